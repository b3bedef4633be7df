package sqsqueue

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// CreateQueues makes the six queues and their dead-letter queues, named prefix-<key> and
// prefix-<key>-dlq, with the same settings as template.yaml. It is for the local stack and
// tests; in AWS, CloudFormation creates them.
func CreateQueues(ctx context.Context, api *sqs.Client, prefix string,
	maxReceives int) (main, dead URLs, err error) {
	main, dead = URLs{}, URLs{}
	for _, k := range domain.AllQueueKeys() {
		name := prefix + "-" + k.String()
		dlq, arn, err := createQueue(ctx, api, name+"-dlq", nil)
		if err != nil {
			return nil, nil, err
		}
		redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, arn, maxReceives)
		url, _, err := createQueue(ctx, api, name, map[string]string{
			string(types.QueueAttributeNameRedrivePolicy): redrive})
		if err != nil {
			return nil, nil, err
		}
		main[k], dead[k] = url, dlq
	}
	return main, dead, nil
}

func createQueue(ctx context.Context, api *sqs.Client, name string,
	attrs map[string]string) (url, arn string, err error) {
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs[string(types.QueueAttributeNameVisibilityTimeout)] = "300"
	out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	got, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("queue arn %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), got.Attributes[string(types.QueueAttributeNameQueueArn)], nil
}
