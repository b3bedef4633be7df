package dynamo

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// PutWorker writes the whole worker record.
func (s *Store) PutWorker(ctx context.Context, w domain.Worker) error {
	return s.putWorker(ctx, w, nil)
}

// UpdateWorker writes the record only while the worker exists.
func (s *Store) UpdateWorker(ctx context.Context, w domain.Worker) error {
	err := s.putWorker(ctx, w, aws.String("attribute_exists(worker_id)"))
	if isConditionFailed(err) {
		return domain.ErrNotFound
	}
	return err
}

func (s *Store) putWorker(ctx context.Context, w domain.Worker, cond *string) error {
	w.Status = ""
	body, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("encode worker: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.tables.Workers,
		Item: map[string]types.AttributeValue{"worker_id": str(w.WorkerID), "kind": str("worker"),
			"body": str(string(body))}, ConditionExpression: cond})
	if isConditionFailed(err) {
		return err
	}
	return wrap("put worker", err)
}

// GetWorker reads one worker.
func (s *Store) GetWorker(ctx context.Context, id string) (domain.Worker, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.tables.Workers,
		Key: map[string]types.AttributeValue{"worker_id": str(id)}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return domain.Worker{}, wrap("get worker", err)
	}
	if out.Item == nil {
		return domain.Worker{}, domain.ErrNotFound
	}
	return decodeWorker(out.Item)
}

// ListWorkers reads every worker through the kind index.
func (s *Store) ListWorkers(ctx context.Context) ([]domain.Worker, error) {
	in := &dynamodb.QueryInput{TableName: &s.tables.Workers, IndexName: aws.String(IndexByKind),
		KeyConditionExpression:    aws.String("kind = :k"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": str("worker")}}
	var out []domain.Worker
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, wrap("list workers", err)
		}
		for _, item := range res.Items {
			w, err := decodeWorker(item)
			if err != nil {
				return nil, err
			}
			out = append(out, w)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// DeleteWorker removes a worker; deleting an absent one is not an error.
func (s *Store) DeleteWorker(ctx context.Context, id string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.tables.Workers,
		Key: map[string]types.AttributeValue{"worker_id": str(id)}})
	return wrap("delete worker", err)
}

func decodeWorker(item map[string]types.AttributeValue) (domain.Worker, error) {
	var w domain.Worker
	b, ok := item["body"].(*types.AttributeValueMemberS)
	if !ok {
		return w, fmt.Errorf("decode worker: no body")
	}
	if err := json.Unmarshal([]byte(b.Value), &w); err != nil {
		return w, fmt.Errorf("decode worker: %w", err)
	}
	return w, nil
}
