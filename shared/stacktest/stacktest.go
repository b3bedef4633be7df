// Package stacktest gives integration tests a fresh job stack on the real local services:
// its own DynamoDB tables and SQS queues under a unique prefix, and a Service wired to them.
package stacktest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/dynamo"
	"github.com/hyper2kvm/controlplane/shared/localaws"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/sqsqueue"
)

// Stack is one test's private set of tables, queues and service.
type Stack struct {
	Config awsenv.Config
	DB     *dynamodb.Client
	SQS    *sqs.Client
	Svc    *service.Service
	Log    *slog.Logger
}

// Options adjust the stack.
type Options struct {
	Service     service.Config
	MaxReceives int // dead-letter threshold; default 10
	Clock       func() time.Time
}

// New creates the stack, skipping (or failing under H2K_REQUIRE_SERVICES=1) when the local
// services cannot run.
func New(t testing.TB, o Options) *Stack {
	t.Helper()
	ep := localaws.ForTests(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := localaws.UniquePrefix(t)
	cfg := awsenv.Config{Region: "us-east-1", DynamoEndpoint: ep.DynamoEndpoint,
		SQSEndpoint: ep.SQSEndpoint, Service: o.Service,
		Tables: dynamo.Tables{Jobs: prefix + "-jobs", Events: prefix + "-events",
			Workers: prefix + "-workers"}}
	db, q, err := awsenv.Clients(ctx, cfg)
	if err != nil {
		t.Fatalf("clients: %v", err)
	}
	if err := dynamo.CreateTables(ctx, db, cfg.Tables); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	if o.MaxReceives == 0 {
		o.MaxReceives = 10
	}
	cfg.Queues, cfg.DeadLetters, err = sqsqueue.CreateQueues(ctx, q, prefix, o.MaxReceives)
	if err != nil {
		t.Fatalf("create queues: %v", err)
	}
	return finish(t, cfg, db, q, o)
}

func finish(t testing.TB, cfg awsenv.Config, db *dynamodb.Client, q *sqs.Client,
	o Options) *Stack {
	t.Helper()
	tw := &testWriter{t: t}
	t.Cleanup(tw.close)
	log := slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := dynamo.New(db, cfg.Tables, func() int64 {
		return time.Now().Add(24 * time.Hour).Unix()
	})
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	var opts []service.Option
	if o.Clock != nil {
		opts = append(opts, service.WithClock(o.Clock))
	}
	svc, err := service.New(store, sqsqueue.New(q, cfg.Queues, cfg.DeadLetters), cfg.Service,
		log, opts...)
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	return &Stack{Config: cfg, DB: db, SQS: q, Svc: svc, Log: log}
}

// Environ is the environment a child process (server, worker) needs to use this stack.
func (s *Stack) Environ() []string {
	c := s.Config
	return append((localaws.Endpoints{DynamoEndpoint: c.DynamoEndpoint,
		SQSEndpoint: c.SQSEndpoint}).Environ(),
		"AWS_ENDPOINT_URL_DYNAMODB="+c.DynamoEndpoint, "AWS_ENDPOINT_URL_SQS="+c.SQSEndpoint,
		"JOBS_TABLE="+c.Tables.Jobs, "EVENTS_TABLE="+c.Tables.Events,
		"WORKERS_TABLE="+c.Tables.Workers, "QUEUE_URLS="+c.Queues.String(),
		"DLQ_URLS="+c.DeadLetters.String())
}

// testWriter sends log records to the test's log until the test ends; records from
// goroutines that outlive it are dropped instead of panicking.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s", b)
	}
	return len(b), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}
