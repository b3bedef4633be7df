package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// jobRecord is a job as stored: the indexed attributes as top-level attributes, the rest as
// JSON text so that open maps in the spec come back exactly as written.
type jobRecord struct {
	JobID      string `dynamodbav:"job_id"`
	State      string `dynamodbav:"state"`
	Kind       string `dynamodbav:"kind"`
	CreatedKey string `dynamodbav:"created_key"`
	Version    int64  `dynamodbav:"version"`
	Body       string `dynamodbav:"body"`
	Hidden     string `dynamodbav:"hidden"`
}

// hidden carries the job fields that clients never see.
type hidden struct {
	LeaseToken string           `json:"lease_token,omitempty"`
	LostLeases int              `json:"lost_leases,omitempty"`
	Failures   int              `json:"failures,omitempty"`
	NextSeq    int64            `json:"next_seq,omitempty"`
	Progress   float64          `json:"progress,omitempty"`
	RetryAt    *time.Time       `json:"retry_at,omitempty"`
	LastError  *domain.JobError `json:"last_error,omitempty"`
	StartedAt  *time.Time       `json:"started_at,omitempty"`
	Dispatched *time.Time       `json:"dispatched,omitempty"`
}

// createdKey sorts newest-last by time and stays unique by job id.
func createdKey(j *domain.Job) string {
	return j.CreatedAt.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + j.JobID
}

func toRecord(j *domain.Job) (map[string]types.AttributeValue, error) {
	pub := *j
	pub.WaitingReason, pub.StreamURL = "", ""
	body, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	h, err := json.Marshal(hidden{j.LeaseToken, j.LostLeases, j.Failures, j.NextSeq, j.Progress,
		j.RetryAt, j.LastError, j.StartedAt, j.Dispatched})
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	return attributevalue.MarshalMap(jobRecord{JobID: j.JobID, State: string(j.State),
		Kind: "job", CreatedKey: createdKey(j), Version: j.Version, Body: string(body),
		Hidden: string(h)})
}

func fromRecord(item map[string]types.AttributeValue) (domain.Job, error) {
	var rec jobRecord
	if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
		return domain.Job{}, fmt.Errorf("decode job: %w", err)
	}
	var j domain.Job
	if err := json.Unmarshal([]byte(rec.Body), &j); err != nil {
		return j, fmt.Errorf("decode job %s: %w", rec.JobID, err)
	}
	var h hidden
	if err := json.Unmarshal([]byte(rec.Hidden), &h); err != nil {
		return j, fmt.Errorf("decode job %s: %w", rec.JobID, err)
	}
	j.Version, j.LeaseToken, j.LostLeases, j.Failures = rec.Version, h.LeaseToken, h.LostLeases,
		h.Failures
	j.NextSeq, j.Progress, j.RetryAt, j.LastError = h.NextSeq, h.Progress, h.RetryAt, h.LastError
	j.StartedAt, j.Dispatched = h.StartedAt, h.Dispatched
	return j, nil
}

// CreateJob writes a new job; ErrAlreadyExists if the id is taken.
func (s *Store) CreateJob(ctx context.Context, j *domain.Job, events ...domain.Event) error {
	j.Version = 1
	err := s.write(ctx, j, "attribute_not_exists(job_id)", nil, events)
	if isConditionFailed(err) {
		j.Version = 0
		return domain.ErrAlreadyExists
	}
	return wrap("create job", err)
}

// SaveJob writes j if the stored version is still j.Version.
func (s *Store) SaveJob(ctx context.Context, j *domain.Job, events ...domain.Event) error {
	prev := j.Version
	j.Version++
	err := s.write(ctx, j, "version = :v",
		map[string]types.AttributeValue{":v": num(prev)}, events)
	if isConditionFailed(err) {
		j.Version = prev
		return domain.ErrStale
	}
	if err != nil {
		j.Version = prev
	}
	return wrap("save job", err)
}

func (s *Store) write(ctx context.Context, j *domain.Job, cond string,
	vals map[string]types.AttributeValue, events []domain.Event) error {
	item, err := toRecord(j)
	if err != nil {
		return err
	}
	put := &types.Put{TableName: &s.tables.Jobs, Item: item, ConditionExpression: &cond,
		ExpressionAttributeValues: vals}
	if len(events) == 0 && j.Ended == nil {
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: item,
			ConditionExpression: &cond, ExpressionAttributeValues: vals})
		return err
	}
	items := []types.TransactWriteItem{{Put: put}}
	for _, ev := range events {
		ei, err := s.eventItem(ev)
		if err != nil {
			return err
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: &s.tables.Events, Item: ei}})
	}
	if j.Ended != nil {
		items = append(items, types.TransactWriteItem{Update: s.countUpdate(j.Ended)})
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		j.Ended = nil
	}
	return err
}

// GetJob reads one job with a strongly consistent read, since callers decide on it.
func (s *Store) GetJob(ctx context.Context, id string) (domain.Job, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.Jobs,
		Key: map[string]types.AttributeValue{"job_id": str(id)}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return domain.Job{}, wrap("get job", err)
	}
	if out.Item == nil {
		return domain.Job{}, domain.ErrNotFound
	}
	return fromRecord(out.Item)
}

// ListJobs reads a page newest first through an index.
func (s *Store) ListJobs(ctx context.Context, q domain.JobQuery) (domain.JobPage, error) {
	in, err := s.jobQuery(q)
	if err != nil {
		return domain.JobPage{}, err
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return domain.JobPage{}, wrap("list jobs", err)
	}
	page := domain.JobPage{Jobs: make([]domain.Job, 0, len(out.Items))}
	for _, item := range out.Items {
		j, err := fromRecord(item)
		if err != nil {
			return page, err
		}
		page.Jobs = append(page.Jobs, j)
	}
	if len(out.LastEvaluatedKey) > 0 {
		page.Next, err = encodeCursor(string(q.State), out.LastEvaluatedKey)
	}
	return page, err
}

func (s *Store) jobQuery(q domain.JobQuery) (*dynamodb.QueryInput, error) {
	in := &dynamodb.QueryInput{TableName: &s.tables.Jobs, ScanIndexForward: aws.Bool(false),
		Limit: aws.Int32(int32(max(1, min(q.Limit, 1000))))}
	if q.State != "" {
		in.IndexName = aws.String(IndexByState)
		in.KeyConditionExpression = aws.String("#s = :k")
		in.ExpressionAttributeNames = map[string]string{"#s": "state"}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":k": str(string(q.State))}
	} else {
		in.IndexName = aws.String(IndexByCreated)
		in.KeyConditionExpression = aws.String("kind = :k")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":k": str("job")}
	}
	if q.Cursor != "" {
		key, err := decodeCursor(string(q.State), q.Cursor)
		if err != nil {
			return nil, err
		}
		in.ExclusiveStartKey = key
	}
	return in, nil
}

// CountJobs counts jobs in one state through the state index.
func (s *Store) CountJobs(ctx context.Context, st domain.State) (int, error) {
	in := &dynamodb.QueryInput{TableName: &s.tables.Jobs, IndexName: aws.String(IndexByState),
		KeyConditionExpression:   aws.String("#s = :k"),
		ExpressionAttributeNames: map[string]string{"#s": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":k": str(string(st))}, Select: types.SelectCount}
	total := 0
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, wrap("count jobs", err)
		}
		total += int(out.Count)
		if len(out.LastEvaluatedKey) == 0 {
			return total, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// cursor is what an opaque page cursor holds: the filter it belongs to and the index key.
type cursor struct {
	State string            `json:"s"`
	Key   map[string]string `json:"k"`
}

func encodeCursor(state string, key map[string]types.AttributeValue) (string, error) {
	c := cursor{State: state, Key: map[string]string{}}
	for k, v := range key {
		sv, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("encode cursor: key %s is not a string", k)
		}
		c.Key[k] = sv.Value
	}
	b, err := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b), err
}

// decodeCursor accepts only a key of exactly the index being read, with the partition value
// of this listing, so a forged cursor is a 400 and never reaches DynamoDB.
func decodeCursor(state, s string) (map[string]types.AttributeValue, error) {
	bad := domain.Invalid([]domain.FieldError{{Field: "next",
		Message: "is not a cursor returned by this listing"}})
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.State != state || len(c.Key) != 3 {
		return nil, bad
	}
	part, want := "kind", "job"
	if state != "" {
		part, want = "state", state
	}
	if c.Key[part] != want || !domain.ValidID(c.Key["job_id"]) || len(c.Key["created_key"]) > 200 ||
		!strings.HasSuffix(c.Key["created_key"], "#"+c.Key["job_id"]) {
		return nil, bad
	}
	out := map[string]types.AttributeValue{}
	for k, v := range c.Key {
		out[k] = str(v)
	}
	return out, nil
}
