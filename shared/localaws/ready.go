package localaws

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

const (
	// pollEvery is the pause between readiness probes; DynamoDB Local needs over a second.
	pollEvery = 100 * time.Millisecond
	// probeTimeout bounds one probe, so a half-started server cannot stall the wait.
	probeTimeout = 2 * time.Second
)

// launchDynamo starts DynamoDB Local with telemetry off both ways (flag and environment).
func (s *Services) launchDynamo() (*proc, error) {
	argv := s.lay.javaArgs(s.opts.DynamoPort, s.opts.DynamoDBPath)
	return launch("dynamodb", argv, []string{"DDB_LOCAL_TELEMETRY=0"}, s.log)
}

func (s *Services) launchSQS() (*proc, error) {
	return launch("sqs", s.lay.nodeArgs(s.opts.SQSPort), nil, s.log)
}

// check pairs a service process with the probe that tells it is serving.
type check struct {
	p     *proc
	probe func(context.Context) error
}

// waitReady polls every check until all succeed, one of the processes exits, or StartTimeout
// (or ctx) runs out. Watching every process at once makes a fast failure of one service show
// at once instead of after the slow start of the other.
func (s *Services) waitReady(ctx context.Context, checks ...check) error {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		var pending []check
		var lastErr error
		for _, c := range checks {
			if c.p.exited() {
				return fmt.Errorf("start %s: %w", c.p.name, c.p.exitError())
			}
			if err := probeOnce(ctx, c.probe); err != nil {
				pending, lastErr = append(pending, c), err
				continue
			}
			s.log.Debug("service ready", "service", c.p.name,
				"duration", time.Since(began).Round(time.Millisecond))
		}
		if checks = pending; len(checks) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			c := checks[len(checks)-1] // the one lastErr came from
			return c.p.withOutput(fmt.Errorf("start %s: no answer: %w (last probe: %v)",
				c.p.name, ctx.Err(), lastErr))
		case <-tick.C:
		}
	}
}

func probeOnce(ctx context.Context, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return probe(ctx)
}

// dynamoReady asks for the table list, the cheapest call that proves the API is served.
func (s *Services) dynamoReady(ctx context.Context) error {
	c := dynamodb.New(dynamodb.Options{
		Region:       region,
		Credentials:  staticCredentials(),
		BaseEndpoint: aws.String(s.DynamoEndpoint),
		HTTPClient:   s.client,
		Retryer:      aws.NopRetryer{},
	})
	_, err := c.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
	return err
}

func (s *Services) sqsReady(ctx context.Context) error {
	c := sqs.New(sqs.Options{
		Region:       region,
		Credentials:  staticCredentials(),
		BaseEndpoint: aws.String(s.SQSEndpoint),
		HTTPClient:   s.client,
		Retryer:      aws.NopRetryer{},
	})
	_, err := c.ListQueues(ctx, &sqs.ListQueuesInput{MaxResults: aws.Int32(1)})
	return err
}

// staticCredentials keeps the SDK off its default chain, which would ask the EC2 metadata
// address when it finds nothing else.
func staticCredentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")
}
