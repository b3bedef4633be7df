// Package awsenv reads the functions' configuration from the environment, as Lambda passes
// it, and builds the SDK clients once. It is the only place that knows the variable names.
package awsenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hyper2kvm/controlplane/shared/dynamo"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/sqsqueue"
)

// Config is everything a function or the worker host needs to reach its data.
type Config struct {
	Tables         dynamo.Tables
	Queues         sqsqueue.URLs
	DeadLetters    sqsqueue.URLs
	Region         string
	DynamoEndpoint string // set only for local services
	SQSEndpoint    string
	Service        service.Config
}

// FromEnv reads the configuration; getenv is os.Getenv outside tests.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Tables: dynamo.Tables{Jobs: getenv("JOBS_TABLE"), Events: getenv("EVENTS_TABLE"),
			Workers: getenv("WORKERS_TABLE")},
		Region:         first(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), "us-east-1"),
		DynamoEndpoint: getenv("AWS_ENDPOINT_URL_DYNAMODB"),
		SQSEndpoint:    getenv("AWS_ENDPOINT_URL_SQS"),
	}
	if err := c.Tables.Validate(); err != nil {
		return c, err
	}
	var err error
	if c.Queues, err = sqsqueue.ParseURLs(getenv("QUEUE_URLS")); err != nil {
		return c, fmt.Errorf("QUEUE_URLS: %w", err)
	}
	if c.DeadLetters, err = sqsqueue.ParseURLs(getenv("DLQ_URLS")); err != nil {
		return c, fmt.Errorf("DLQ_URLS: %w", err)
	}
	c.Service, err = serviceConfig(getenv)
	return c, err
}

func serviceConfig(getenv func(string) string) (service.Config, error) {
	var sc service.Config
	var err error
	secs := func(name string, d *time.Duration) {
		if v := getenv(name); v != "" && err == nil {
			var n int
			n, err = strconv.Atoi(v)
			if err != nil || n <= 0 {
				err = fmt.Errorf("%s must be a positive number of seconds, got %q", name, v)
			}
			*d = time.Duration(n) * time.Second
		}
	}
	secs("LEASE_SECONDS", &sc.Lease)
	secs("HEARTBEAT_TIMEOUT_SECONDS", &sc.HeartbeatTimeout)
	secs("RETRY_BASE_SECONDS", &sc.RetryBase)
	if v := getenv("MAX_LOST_LEASES"); v != "" && err == nil {
		sc.MaxLostLeases, err = strconv.Atoi(v)
		if err != nil || sc.MaxLostLeases < 1 {
			err = fmt.Errorf("MAX_LOST_LEASES must be a positive integer, got %q", v)
		}
	}
	if err != nil {
		return sc, err
	}
	return sc.WithDefaults()
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Clients builds the DynamoDB and SQS clients. With local endpoints set, credentials are
// static dummies so the SDK never asks the instance metadata service for any.
func Clients(ctx context.Context, c Config) (*dynamodb.Client, *sqs.Client, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(c.Region),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(30 * time.Second))}
	if c.DynamoEndpoint != "" || c.SQSEndpoint != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider("local", "local", "")),
			config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("load aws config: %w", err)
	}
	db := dynamodb.NewFromConfig(ac, func(o *dynamodb.Options) {
		if c.DynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(c.DynamoEndpoint)
		}
	})
	q := sqs.NewFromConfig(ac, func(o *sqs.Options) {
		if c.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(c.SQSEndpoint)
		}
	})
	return db, q, nil
}

// Build wires the store, the queue and the service from a configuration.
func Build(ctx context.Context, c Config, log *slog.Logger) (*service.Service, error) {
	db, q, err := Clients(ctx, c)
	if err != nil {
		return nil, err
	}
	ttl := c.Service.EventTTL
	store, err := dynamo.New(db, c.Tables, func() int64 { return time.Now().Add(ttl).Unix() })
	if err != nil {
		return nil, err
	}
	return service.New(store, sqsqueue.New(q, c.Queues, c.DeadLetters), c.Service, log)
}

// Logger is the JSON logger every function uses, at LOG_LEVEL (default info).
func Logger() *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(first(os.Getenv("LOG_LEVEL"), "info")))
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: lvl}))
}
