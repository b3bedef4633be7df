// Package sqsqueue implements the domain Queue on Amazon SQS: one queue per priority band and
// capability class, each with a dead-letter queue.
package sqsqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// API is the part of the SQS client the queue uses.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput,
		opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput,
		opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput,
		opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput,
		opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput,
		opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// URLs maps each queue key to its queue URL.
type URLs map[domain.QueueKey]string

// ParseURLs reads "high-basic=<url>,normal-basic=<url>,…" as set in the functions'
// environment, and insists on all six queues so that no band silently goes nowhere.
func ParseURLs(s string) (URLs, error) {
	out := URLs{}
	for _, part := range strings.Split(s, ",") {
		name, url, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || url == "" {
			continue
		}
		key, err := parseKey(name)
		if err != nil {
			return nil, err
		}
		out[key] = url
	}
	for _, k := range domain.AllQueueKeys() {
		if out[k] == "" {
			return nil, fmt.Errorf("queue urls: %s is missing", k)
		}
	}
	return out, nil
}

func parseKey(name string) (domain.QueueKey, error) {
	for _, k := range domain.AllQueueKeys() {
		if k.String() == name {
			return k, nil
		}
	}
	return domain.QueueKey{}, fmt.Errorf("queue urls: unknown queue %q", name)
}

// String renders the URLs in the form ParseURLs reads.
func (u URLs) String() string {
	var parts []string
	for _, k := range domain.AllQueueKeys() {
		parts = append(parts, k.String()+"="+u[k])
	}
	return strings.Join(parts, ",")
}

// Queue is the SQS implementation of domain.Queue.
type Queue struct {
	api  API
	main URLs
	dead URLs
}

var _ domain.Queue = (*Queue)(nil)

// New builds a Queue over the main and dead-letter queues.
func New(api API, main, dead URLs) *Queue { return &Queue{api: api, main: main, dead: dead} }

// maxDelay is SQS's limit on a message delay.
const maxDelay = 15 * time.Minute

// Send enqueues a dispatch, delayed by at most SQS's 15 minutes; a longer wait is handled by
// the job's retry time, which the claim checks.
func (q *Queue) Send(ctx context.Context, key domain.QueueKey, d domain.Dispatch,
	delay time.Duration) error {
	body, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode dispatch: %w", err)
	}
	delay = min(max(delay, 0), maxDelay)
	secs := int32((delay + time.Second - 1) / time.Second) // never early: round up
	_, err = q.api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.main[key]),
		MessageBody: aws.String(string(body)), DelaySeconds: secs})
	return wrap("send message", err)
}

// Receive long-polls one queue.
func (q *Queue) Receive(ctx context.Context, key domain.QueueKey, wait time.Duration,
	maxN int) ([]domain.Delivery, error) {
	return q.receive(ctx, key, q.main[key], wait, maxN)
}

// ReceiveDead reads a dead-letter queue without waiting.
func (q *Queue) ReceiveDead(ctx context.Context, key domain.QueueKey,
	maxN int) ([]domain.Delivery, error) {
	return q.receive(ctx, key, q.dead[key], 0, maxN)
}

func (q *Queue) receive(ctx context.Context, key domain.QueueKey, url string,
	wait time.Duration, maxN int) ([]domain.Delivery, error) {
	out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
		MaxNumberOfMessages: int32(min(max(maxN, 1), 10)), WaitTimeSeconds: int32(wait / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil {
		return nil, wrap("receive message", err)
	}
	var ds []domain.Delivery
	for _, m := range out.Messages {
		ds = append(ds, Decode(key, url, m))
	}
	return ds, nil
}

// Decode turns an SQS message into a delivery. A body that is not a dispatch keeps an empty
// job id, which the claim treats as stale and drops.
func Decode(key domain.QueueKey, url string, m types.Message) domain.Delivery {
	d := domain.Delivery{Key: key, QueueURL: url, Handle: aws.ToString(m.ReceiptHandle)}
	_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &d.Dispatch)
	n := m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]
	d.ReceiveCount, _ = strconv.Atoi(n)
	return d
}

// Delete removes a received message.
func (q *Queue) Delete(ctx context.Context, d domain.Delivery) error {
	_, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.QueueURL),
		ReceiptHandle: aws.String(d.Handle)})
	return wrap("delete message", err)
}

// Extend keeps a received message invisible for another by.
func (q *Queue) Extend(ctx context.Context, d domain.Delivery, by time.Duration) error {
	_, err := q.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(d.QueueURL), ReceiptHandle: aws.String(d.Handle),
		VisibilityTimeout: int32(by / time.Second)})
	return wrap("change visibility", err)
}

// Stats reads the approximate counts of every queue.
func (q *Queue) Stats(ctx context.Context) (domain.QueueStats, error) {
	st := domain.QueueStats{Visible: map[domain.QueueKey]int{},
		InFlight: map[domain.QueueKey]int{}, Delayed: map[domain.QueueKey]int{},
		DeadLetter: map[domain.QueueKey]int{}}
	for _, k := range domain.AllQueueKeys() {
		a, err := q.counts(ctx, q.main[k])
		if err != nil {
			return st, err
		}
		st.Visible[k], st.InFlight[k], st.Delayed[k] = a[0], a[1], a[2]
		if d, err := q.counts(ctx, q.dead[k]); err == nil {
			st.DeadLetter[k] = d[0] + d[1]
		} else {
			return st, err
		}
	}
	return st, nil
}

func (q *Queue) counts(ctx context.Context, url string) ([3]int, error) {
	names := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed}
	out, err := q.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: names})
	if err != nil {
		return [3]int{}, wrap("queue attributes", err)
	}
	var n [3]int
	for i, name := range names {
		n[i], _ = strconv.Atoi(out.Attributes[string(name)])
	}
	return n, nil
}

// Ping checks that one queue answers.
func (q *Queue) Ping(ctx context.Context) error {
	_, err := q.counts(ctx, q.main[domain.QueueKey{Band: domain.BandHigh,
		Class: domain.ClassBasic}])
	return err
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return domain.Unavailable("the job queue", fmt.Errorf("%s: %w", what, err))
}
