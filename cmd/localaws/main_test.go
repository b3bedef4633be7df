package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/goleak"

	"github.com/hyper2kvm/controlplane/shared/localaws"
)

// envChild makes the test binary act as the child command (see childMain).
const envChild = "LOCALAWS_TEST_CHILD"

// childExit is the child's exit code when every check passed; unusual, so that seeing it
// proves the code was passed through.
const childExit = 42

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(childMain())
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// childMain checks, from inside the child, that the exported environment is complete and that
// both services answer at the endpoints it names.
func childMain() int {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} {
		if os.Getenv(k) == "" {
			fmt.Fprintln(os.Stderr, "child: missing", k)
			return 1
		}
	}
	if os.Getenv("AWS_EC2_METADATA_DISABLED") != "true" {
		fmt.Fprintln(os.Stderr, "child: AWS_EC2_METADATA_DISABLED is not true")
		return 1
	}
	if err := pingServices(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return childExit
}

func pingServices(ctx context.Context) error {
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", Credentials: creds, HTTPClient: hc,
		BaseEndpoint: aws.String(os.Getenv(localaws.EnvDynamoEndpoint)),
	})
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		return fmt.Errorf("list tables: %w", err)
	}
	q := sqs.New(sqs.Options{
		Region: "us-east-1", Credentials: creds, HTTPClient: hc,
		BaseEndpoint: aws.String(os.Getenv(localaws.EnvSQSEndpoint)),
	})
	if _, err := q.ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		return fmt.Errorf("list queues: %w", err)
	}
	return nil
}

// skipIfNotInstalled skips when the services cannot be installed here, unless CI requires them.
func skipIfNotInstalled(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, localaws.ErrNotInstalled) && os.Getenv(localaws.EnvRequireServices) != "1" {
		t.Skip(err)
	}
}

func TestServeRunsCommandAndPassesExitCode(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cfg := config{command: []string{"env", envChild + "=1", exe, "-test.run=^$"}}
	code, err := serve(t.Context(), cfg, stdio{strings.NewReader(""), &out, &errOut})
	skipIfNotInstalled(t, err)
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	if code != childExit {
		t.Errorf("exit code: got %d, want %d; child stderr:\n%s", code, childExit, errOut.String())
	}
}

func TestServeWithoutCommandPrintsEndpointsUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := serve(ctx, config{}, stdio{nil, out, out})
		done <- result{code, err}
	}()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(out.String(), "Press Ctrl-C") {
		select {
		case r := <-done:
			skipIfNotInstalled(t, r.err)
			t.Fatalf("serve returned early: %d, %v", r.code, r.err)
		case <-deadline:
			t.Fatal("no endpoints printed within 2 minutes")
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	if r := <-done; r.code != 0 || r.err != nil {
		t.Errorf("serve after cancel: got %d, %v; want 0, nil", r.code, r.err)
	}
	for _, want := range []string{"export H2K_DYNAMODB_ENDPOINT=http://127.0.0.1:",
		"export H2K_SQS_ENDPOINT=http://127.0.0.1:", "export AWS_EC2_METADATA_DISABLED=true"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	args := []string{"-dynamo-port", "8000", "-sqs-port", "9324", "-db-path", "/tmp/x",
		"--", "go", "test", "-race", "./..."}
	cfg, err := parseArgs(args, &stderr)
	if err != nil {
		t.Fatalf("parseArgs: %v", err)
	}
	got := cfg.opts
	if got.DynamoPort != 8000 || got.SQSPort != 9324 || got.DynamoDBPath != "/tmp/x" {
		t.Errorf("options: got %+v", got)
	}
	if got, want := strings.Join(cfg.command, " "), "go test -race ./..."; got != want {
		t.Errorf("command: got %q, want %q", got, want)
	}
	if _, err := parseArgs([]string{"-nope"}, &stderr); err == nil {
		t.Error("parseArgs(-nope): got nil error")
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		script string
		want   int
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{"kill -TERM $$", 128 + 15},
	} {
		code, err := runChild(t.Context(), []string{"sh", "-c", tt.script}, nil, stdio{})
		if err != nil || code != tt.want {
			t.Errorf("%s: got %d, %v; want %d", tt.script, code, err, tt.want)
		}
	}
	code, err := runChild(t.Context(), []string{"/nonexistent/cmd"}, nil, stdio{})
	if code != 127 || err == nil {
		t.Errorf("missing command: got %d, %v; want 127 and an error", code, err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
