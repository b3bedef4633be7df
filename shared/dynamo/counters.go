package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// countersID is the jobs-table key of the counters item; it is not a valid job id, and it
// has no state or kind attribute, so it never appears in a listing.
const countersID = "#counters"

// countUpdate adds one outcome to the counters item.
func (s *Store) countUpdate(o *domain.Outcome) *types.Update {
	names := map[string]string{}
	vals := map[string]types.AttributeValue{":one": num(1)}
	var adds []string
	add := func(attr, val string) {
		ph := fmt.Sprintf("#a%d", len(names))
		names[ph] = attr
		adds = append(adds, ph+" "+val)
	}
	add("total|"+string(o.Operation)+"|"+string(o.Status), ":one")
	if o.Code != "" {
		add("failures|"+string(o.Operation)+"|"+string(o.Code), ":one")
	}
	if o.Seconds > 0 {
		vals[":secs"] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(o.Seconds, 'f', 3, 64)}
		add("duration_sum", ":secs")
		add("duration_count", ":one")
		for _, b := range domain.DurationBuckets {
			if o.Seconds <= b {
				add("bucket|"+strconv.FormatFloat(b, 'f', -1, 64), ":one")
			}
		}
	}
	return &types.Update{TableName: &s.tables.Jobs,
		Key:                      map[string]types.AttributeValue{"job_id": str(countersID)},
		UpdateExpression:         aws.String("ADD " + strings.Join(adds, ", ")),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals}
}

// Counters reads the running totals.
func (s *Store) Counters(ctx context.Context) (domain.Counters, error) {
	c := domain.Counters{Total: map[[2]string]float64{}, Failures: map[[2]string]float64{},
		Buckets: map[float64]float64{}}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.Jobs,
		Key: map[string]types.AttributeValue{"job_id": str(countersID)}})
	if err != nil {
		return c, wrap("read counters", err)
	}
	for name, v := range out.Item {
		n, ok := v.(*types.AttributeValueMemberN)
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(n.Value, 64)
		c.Add(name, f)
	}
	return c, nil
}
