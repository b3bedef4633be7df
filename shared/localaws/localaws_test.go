package localaws_test

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.uber.org/goleak"

	"github.com/hyper2kvm/controlplane/shared/localaws"
)

func TestMain(m *testing.M) {
	code := localaws.RunTests(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goroutine leak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// start launches a private set of services for one test and stops it at cleanup. Tests that
// restart or inspect processes need their own; the rest use localaws.ForTests.
func start(t *testing.T, opts localaws.Options) *localaws.Services {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	svc, err := localaws.Start(t.Context(), opts)
	if errors.Is(err, localaws.ErrNotInstalled) && os.Getenv(localaws.EnvRequireServices) != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := svc.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return svc
}

// testWriter sends the harness's log records to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// httpClient keeps no idle connections, so the leak check at exit sees no stray goroutines.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func dynamoClient(ep localaws.Endpoints) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(ep.DynamoEndpoint),
		HTTPClient:   httpClient,
	})
}

func sqsClient(ep localaws.Endpoints) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		BaseEndpoint: aws.String(ep.SQSEndpoint),
		HTTPClient:   httpClient,
	})
}

func createTable(t *testing.T, db *dynamodb.Client, name string) {
	t.Helper()
	_, err := db.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

func tableExists(t *testing.T, db *dynamodb.Client, name string) bool {
	t.Helper()
	_, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{
		TableName: aws.String(name),
	})
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return false
	}
	if err != nil {
		t.Fatalf("DescribeTable %s: %v", name, err)
	}
	return true
}

func TestStartServesBothOnLoopbackOnly(t *testing.T) {
	t.Parallel()
	svc := start(t, localaws.Options{})
	name := localaws.UniquePrefix(t)

	createTable(t, dynamoClient(svc.Endpoints), name)
	if !tableExists(t, dynamoClient(svc.Endpoints), name) {
		t.Fatalf("table %s missing right after CreateTable", name)
	}
	q := sqsClient(svc.Endpoints)
	if _, err := q.CreateQueue(t.Context(), &sqs.CreateQueueInput{
		QueueName: aws.String(name),
	}); err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	for _, ep := range []string{svc.DynamoEndpoint, svc.SQSEndpoint} {
		checkLoopbackOnly(t, ep)
	}
}

func TestStopEndsServices(t *testing.T) {
	t.Parallel()
	svc := start(t, localaws.Options{})
	if err := svc.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, ep := range []string{svc.DynamoEndpoint, svc.SQSEndpoint} {
		addr := strings.TrimPrefix(ep, "http://")
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Stop", addr)
		}
	}
	if err := svc.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := svc.RestartDynamo(t.Context()); err == nil {
		t.Error("RestartDynamo after Stop: got nil error")
	}
}

func TestRestartDynamoKeepsOnDiskTables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	svc := start(t, localaws.Options{DynamoDBPath: dir})
	name := localaws.UniquePrefix(t)
	createTable(t, dynamoClient(svc.Endpoints), name)

	before := svc.DynamoEndpoint
	if err := svc.RestartDynamo(t.Context()); err != nil {
		t.Fatalf("RestartDynamo: %v", err)
	}
	if got := svc.DynamoEndpoint; got != before {
		t.Errorf("endpoint after restart: got %s, want %s", got, before)
	}
	if !tableExists(t, dynamoClient(svc.Endpoints), name) {
		t.Errorf("table %s lost across an on-disk restart", name)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*.db")); len(files) == 0 {
		t.Errorf("no database file in %s", dir)
	}
}

// TestRestartDynamoInMemoryLosesTables proves RestartDynamo really restarts the process, which
// the on-disk test alone could not tell from a no-op.
func TestRestartDynamoInMemoryLosesTables(t *testing.T) {
	t.Parallel()
	svc := start(t, localaws.Options{})
	name := localaws.UniquePrefix(t)
	createTable(t, dynamoClient(svc.Endpoints), name)
	if err := svc.RestartDynamo(t.Context()); err != nil {
		t.Fatalf("RestartDynamo: %v", err)
	}
	if tableExists(t, dynamoClient(svc.Endpoints), name) {
		t.Errorf("in-memory table %s survived a restart", name)
	}
}

func TestStartFailsFastWhenPortTaken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		service string
		opts    func(port int) localaws.Options
	}{
		{"sqs", func(p int) localaws.Options { return localaws.Options{SQSPort: p} }},
		{"dynamodb", func(p int) localaws.Options { return localaws.Options{DynamoPort: p} }},
	} {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			port := l.Addr().(*net.TCPAddr).Port
			checkStartFails(t, tt.opts(port), tt.service)
		})
	}
}

// checkStartFails expects Start to fail well before its timeout, naming service.
func checkStartFails(t *testing.T, opts localaws.Options, service string) {
	t.Helper()
	began := time.Now()
	svc, err := localaws.Start(t.Context(), opts)
	if errors.Is(err, localaws.ErrNotInstalled) {
		t.Skip(err)
	}
	if err == nil {
		svc.Stop()
		t.Fatalf("Start with the %s port taken: got nil error", service)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "start "+service) {
		t.Errorf("error does not name %s: %v", service, err)
	}
	if d := time.Since(began); d > 30*time.Second {
		t.Errorf("failure took %s, want well under the start timeout", d)
	}
}
