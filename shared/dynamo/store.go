// Package dynamo implements the domain Store on Amazon DynamoDB: jobs, progress events and
// workers each in their own table, every job change a conditional write on its version.
package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Tables names the three tables.
type Tables struct {
	Jobs, Events, Workers string
}

// Validate rejects missing names at start-up.
func (t Tables) Validate() error {
	if t.Jobs == "" || t.Events == "" || t.Workers == "" {
		return fmt.Errorf("dynamo tables: jobs %q, events %q and workers %q must all be set",
			t.Jobs, t.Events, t.Workers)
	}
	return nil
}

// Index names, shared with template.yaml.
const (
	IndexByState   = "by_state"
	IndexByCreated = "by_created"
	IndexByKind    = "by_kind"
)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput,
		opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput,
		opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput,
		opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput,
		opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput,
		opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput,
		opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Store is the DynamoDB implementation of domain.Store.
type Store struct {
	db     API
	tables Tables
	ttl    func() int64
}

var _ domain.Store = (*Store)(nil)

// New builds a Store. eventExpiry returns the epoch second at which an event written now
// may be deleted by TTL.
func New(db API, tables Tables, eventExpiry func() int64) (*Store, error) {
	if err := tables.Validate(); err != nil {
		return nil, err
	}
	return &Store{db: db, tables: tables, ttl: eventExpiry}, nil
}

// Ping checks that the jobs table answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &s.tables.Jobs})
	return wrap("describe jobs table", err)
}

// wrap turns an SDK failure into a 503-class domain error; the cause is kept for logs only.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return domain.Unavailable("the job store", fmt.Errorf("%s: %w", what, err))
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for _, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return true
			}
		}
	}
	return false
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func num(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(v)}
}
