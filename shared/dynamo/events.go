package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// tsLayout is fixed-width so that timestamps compare correctly as strings in filters.
const tsLayout = "2006-01-02T15:04:05.000000000Z"

func (s *Store) eventItem(ev domain.Event) (map[string]types.AttributeValue, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return map[string]types.AttributeValue{
		"job_id": str(ev.JobID), "seq": num(ev.Seq),
		"ts": str(ev.Timestamp.UTC().Format(tsLayout)), "body": str(string(body)),
		"expires_at": num(s.ttl()),
	}, nil
}

// ListEvents reads a job's events in seq order. TTL deletion is lazy (and never happens in
// DynamoDB Local), so expired events are filtered here too.
func (s *Store) ListEvents(ctx context.Context, q domain.EventQuery) ([]domain.Event, error) {
	limit := max(1, min(q.Limit, 1000))
	in := s.eventQuery(q, limit)
	out := make([]domain.Event, 0, min(limit, 64))
	for len(out) < limit {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, wrap("list events", err)
		}
		for _, item := range res.Items {
			ev, err := decodeEvent(item)
			if err != nil {
				return nil, err
			}
			if len(out) < limit {
				out = append(out, ev)
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	return out, nil
}

func (s *Store) eventQuery(q domain.EventQuery, limit int) *dynamodb.QueryInput {
	filter := "expires_at > :now"
	vals := map[string]types.AttributeValue{":id": str(q.JobID), ":after": num(q.After),
		":now": num(time.Now().Unix())}
	if !q.Since.IsZero() {
		filter += " AND ts >= :since"
		vals[":since"] = str(q.Since.UTC().Format(tsLayout))
	}
	return &dynamodb.QueryInput{TableName: &s.tables.Events, ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("job_id = :id AND seq > :after"),
		FilterExpression:       &filter, ExpressionAttributeValues: vals,
		Limit: aws.Int32(int32(limit))}
}

func decodeEvent(item map[string]types.AttributeValue) (domain.Event, error) {
	var ev domain.Event
	b, ok := item["body"].(*types.AttributeValueMemberS)
	if !ok {
		return ev, fmt.Errorf("decode event: no body")
	}
	if err := json.Unmarshal([]byte(b.Value), &ev); err != nil {
		return ev, fmt.Errorf("decode event: %w", err)
	}
	if n, ok := item["seq"].(*types.AttributeValueMemberN); ok {
		ev.Seq, _ = strconv.ParseInt(n.Value, 10, 64)
	}
	return ev, nil
}
