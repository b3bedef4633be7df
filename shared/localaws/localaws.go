// Package localaws starts AWS-compatible services on 127.0.0.1 for tests and local runs:
// DynamoDB Local (AWS's own jar, through dev/dynamodb/LoopbackDynamoDB.java) and the fauxqs SQS
// emulator (through dev/sqs.mjs). Both run as child processes in their own process groups.
//
// It is a development harness: no Lambda function imports it. dev/install.sh (make deps)
// installs what it runs.
package localaws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Environment variables shared by the harness, cmd/localaws and the code under test.
const (
	// EnvDynamoEndpoint holds the DynamoDB endpoint URL, e.g. http://127.0.0.1:8000.
	EnvDynamoEndpoint = "H2K_DYNAMODB_ENDPOINT"
	// EnvSQSEndpoint holds the SQS endpoint URL, e.g. http://127.0.0.1:4566.
	EnvSQSEndpoint = "H2K_SQS_ENDPOINT"
	// EnvRequireServices set to 1 turns a test skip (services unavailable) into a failure, so
	// CI cannot pass by skipping every integration test.
	EnvRequireServices = "H2K_REQUIRE_SERVICES"
)

// Static settings every local client uses, so the SDK never looks for real credentials.
const (
	region          = "us-east-1"
	accessKeyID     = "local"
	secretAccessKey = "local"
)

// ErrNotInstalled is wrapped by Start when a prerequisite is missing, so callers (test helpers,
// cmd/localaws) can tell "run make deps" apart from a service that broke.
var ErrNotInstalled = errors.New("local aws services not installed")

// Endpoints are the base URLs of the local services, as given to each SDK client's
// BaseEndpoint.
type Endpoints struct {
	DynamoEndpoint string
	SQSEndpoint    string
}

// Environ returns the variables a child process needs to use these endpoints with static dummy
// credentials, and never the EC2 metadata service.
func (e Endpoints) Environ() []string {
	return []string{
		EnvDynamoEndpoint + "=" + e.DynamoEndpoint,
		EnvSQSEndpoint + "=" + e.SQSEndpoint,
		"AWS_ACCESS_KEY_ID=" + accessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + secretAccessKey,
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Options configure Start. The zero value starts both services in memory on free ports, with
// the repository found from the working directory.
type Options struct {
	// RepoRoot is the repository root (holding go.mod, dev/ and .local/). Empty: the nearest
	// ancestor of the working directory that has dev/package.json.
	RepoRoot string
	// DynamoPort and SQSPort are the ports to listen on; 0 picks a free one.
	DynamoPort int
	SQSPort    int
	// DynamoDBPath keeps DynamoDB's data in this directory instead of memory, so it survives
	// RestartDynamo.
	DynamoDBPath string
	// StartTimeout bounds each wait for a service to answer; default 60 s (a JVM on a loaded
	// two-core machine under the race detector can be slow).
	StartTimeout time.Duration
	// Logger receives lifecycle records and, at debug level, the services' own output.
	// Nil discards.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Services are running local services. Endpoints stay the same for their whole life, across
// RestartDynamo too.
type Services struct {
	Endpoints

	opts   Options
	lay    layout
	log    *slog.Logger
	client *http.Client

	mu      sync.Mutex
	dynamo  *proc
	sqs     *proc
	stopped bool
}

// Start launches DynamoDB Local and fauxqs on 127.0.0.1 and returns once both answer an API
// call. ctx bounds startup only: the services run until Stop, whatever happens to ctx.
func Start(ctx context.Context, opts Options) (*Services, error) {
	s, err := newServices(opts.withDefaults())
	if err != nil {
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// newServices checks prerequisites and settles ports and the data directory; nothing runs yet.
func newServices(opts Options) (*Services, error) {
	lay, err := findLayout(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	if opts.DynamoDBPath != "" {
		if err := os.MkdirAll(opts.DynamoDBPath, 0o755); err != nil {
			return nil, fmt.Errorf("create dynamodb data dir: %w", err)
		}
	}
	if opts.DynamoPort, opts.SQSPort, err = pickPorts(opts.DynamoPort, opts.SQSPort); err != nil {
		return nil, err
	}
	return &Services{
		Endpoints: Endpoints{
			DynamoEndpoint: loopbackURL(opts.DynamoPort),
			SQSEndpoint:    loopbackURL(opts.SQSPort),
		},
		opts: opts,
		lay:  lay,
		log:  opts.Logger,
		// No keep-alives: readiness probes leave no idle connections or goroutines behind.
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}, nil
}

func (s *Services) start(ctx context.Context) error {
	began := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.sqs, err = s.launchSQS(); err != nil {
		return err
	}
	if s.dynamo, err = s.launchDynamo(); err != nil {
		return err
	}
	err = s.waitReady(ctx, check{s.dynamo, s.dynamoReady}, check{s.sqs, s.sqsReady})
	if err != nil {
		return err
	}
	s.log.Info("local aws services ready",
		"dynamodb", s.DynamoEndpoint, "sqs", s.SQSEndpoint,
		"duration", time.Since(began).Round(time.Millisecond))
	return nil
}

// RestartDynamo stops DynamoDB Local and starts it again on the same port and data directory,
// for tests of what survives a database restart. In memory mode every table is lost.
func (s *Services) RestartDynamo(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("restart dynamodb: services stopped")
	}
	if s.dynamo != nil { // nil after a failed relaunch
		if err := s.dynamo.stop(s.log); err != nil {
			return fmt.Errorf("restart dynamodb: %w", err)
		}
	}
	var err error
	if s.dynamo, err = s.launchDynamo(); err != nil {
		return fmt.Errorf("restart dynamodb: %w", err)
	}
	if err := s.waitReady(ctx, check{s.dynamo, s.dynamoReady}); err != nil {
		return fmt.Errorf("restart dynamodb: %w", err)
	}
	s.log.Info("dynamodb local restarted", "dynamodb", s.DynamoEndpoint)
	return nil
}

// Stop ends both services and waits until their process groups are gone. It is safe to call
// more than once.
func (s *Services) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	var errs []error
	for _, p := range []*proc{s.dynamo, s.sqs} {
		if p != nil {
			errs = append(errs, p.stop(s.log))
		}
	}
	s.log.Info("local aws services stopped")
	return errors.Join(errs...)
}

func loopbackURL(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port)
}
