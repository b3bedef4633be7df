package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CreateTables creates the three tables with the same keys and indexes as template.yaml, for
// the local stack and tests (in AWS, CloudFormation creates them). Existing tables are kept.
func CreateTables(ctx context.Context, db *dynamodb.Client, t Tables) error {
	for _, in := range tableInputs(t) {
		_, err := db.CreateTable(ctx, in)
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
		}
		w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
			o.MinDelay = 50 * time.Millisecond
			o.MaxDelay = 500 * time.Millisecond
		})
		err = w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, time.Minute)
		if err != nil {
			return fmt.Errorf("wait for table %s: %w", aws.ToString(in.TableName), err)
		}
	}
	return nil
}

func tableInputs(t Tables) []*dynamodb.CreateTableInput {
	return []*dynamodb.CreateTableInput{
		{TableName: aws.String(t.Jobs), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: attrs("job_id", "state", "kind", "created_key"),
			KeySchema:            key("job_id", ""),
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
				gsi(IndexByState, "state", "created_key"),
				gsi(IndexByCreated, "kind", "created_key"),
			}},
		{TableName: aws.String(t.Events), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: append(attrs("job_id"), types.AttributeDefinition{
				AttributeName: aws.String("seq"), AttributeType: types.ScalarAttributeTypeN}),
			KeySchema: key("job_id", "seq")},
		{TableName: aws.String(t.Workers), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions:   attrs("worker_id", "kind"),
			KeySchema:              key("worker_id", ""),
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi(IndexByKind, "kind", "worker_id")}},
	}
}

func attrs(names ...string) []types.AttributeDefinition {
	out := make([]types.AttributeDefinition, len(names))
	for i, n := range names {
		out[i] = types.AttributeDefinition{AttributeName: aws.String(n),
			AttributeType: types.ScalarAttributeTypeS}
	}
	return out
}

func key(hash, rng string) []types.KeySchemaElement {
	ks := []types.KeySchemaElement{{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash}}
	if rng != "" {
		ks = append(ks, types.KeySchemaElement{AttributeName: aws.String(rng),
			KeyType: types.KeyTypeRange})
	}
	return ks
}

func gsi(name, hash, rng string) types.GlobalSecondaryIndex {
	return types.GlobalSecondaryIndex{IndexName: aws.String(name), KeySchema: key(hash, rng),
		Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll}}
}
