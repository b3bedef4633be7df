package faults

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/dynamo"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/localaws"
	"github.com/hyper2kvm/controlplane/shared/sqsqueue"
)

// privateDynamo is a DynamoDB Local of this test's own, keeping its data on disk, next to
// the shared SQS emulator; stopping it disturbs no other test.
type privateDynamo struct {
	t    *testing.T
	dir  string
	port int
	svcs *localaws.Services
}

func startPrivateDynamo(t *testing.T, ctx context.Context, dir string, port int) *privateDynamo {
	t.Helper()
	svcs, err := localaws.Start(ctx, localaws.Options{DynamoDBPath: dir, DynamoPort: port})
	if err != nil {
		t.Fatalf("start private dynamodb: %v", err)
	}
	t.Cleanup(func() { _ = svcs.Stop() })
	u, err := url.Parse(svcs.DynamoEndpoint)
	if err != nil {
		t.Fatalf("dynamodb endpoint: %v", err)
	}
	port, _ = strconv.Atoi(u.Port())
	return &privateDynamo{t: t, dir: dir, port: port, svcs: svcs}
}

// apiOver builds the API the way the functions do (awsenv), over the private DynamoDB
// and the shared SQS, and serves it on 127.0.0.1.
func apiOver(t *testing.T, ctx context.Context, db *privateDynamo) *client {
	t.Helper()
	prefix := localaws.UniquePrefix(t)
	cfg := awsenv.Config{Region: "us-east-1", DynamoEndpoint: db.svcs.DynamoEndpoint,
		SQSEndpoint: localaws.ForTests(t).SQSEndpoint,
		Tables: dynamo.Tables{Jobs: prefix + "-jobs", Events: prefix + "-events",
			Workers: prefix + "-workers"}}
	dbc, q, err := awsenv.Clients(ctx, cfg)
	if err != nil {
		t.Fatalf("clients: %v", err)
	}
	if err := dynamo.CreateTables(ctx, dbc, cfg.Tables); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	if cfg.Queues, cfg.DeadLetters, err = sqsqueue.CreateQueues(ctx, q, prefix, 10); err != nil {
		t.Fatalf("create queues: %v", err)
	}
	log := slog.New(slog.DiscardHandler) // outage errors are expected by the hundred
	svc, err := awsenv.Build(ctx, cfg, log)
	if err != nil {
		t.Fatalf("build service: %v", err)
	}
	srv := httptest.NewServer(httpapi.New(svc, log, httpapi.Options{}).Handler())
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL)
}

// DynamoDB stopped under a running API: requests answer 503 with the envelope and
// Retry-After, /health answers 503; once DynamoDB is back (started again on its data, then
// restarted in place) the same API serves every job submitted before, histories intact.
func TestDynamoDBOutageAndRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	db := startPrivateDynamo(t, ctx, dir, 0)
	c := apiOver(t, ctx, db)
	before := seedJobs(t, c)

	stopped := time.Now()
	if err := db.svcs.Stop(); err != nil {
		t.Fatalf("stop dynamodb: %v", err)
	}
	t.Logf("dynamodb stopped in %s", time.Since(stopped).Round(time.Millisecond))
	checkOutage(t, c, before[0].JobID)

	began := time.Now()
	db = startPrivateDynamo(t, ctx, dir, db.port)
	t.Logf("dynamodb started again in %s", time.Since(began).Round(time.Millisecond))
	before = append(before, checkRecovery(t, c, before, "after the stop and start"))
	// The submit refused during the outage stored nothing.
	c.must(http.MethodGet, "/jobs/during-outage", "", http.StatusNotFound)

	began = time.Now()
	if err := db.svcs.RestartDynamo(ctx); err != nil {
		t.Fatalf("restart dynamodb: %v", err)
	}
	t.Logf("RestartDynamo took %s", time.Since(began).Round(time.Millisecond))
	checkRecovery(t, c, before, "after RestartDynamo")
}

// seedJobs submits jobs and gives them different histories: queued, cancelled, and
// created without queueing.
func seedJobs(t *testing.T, c *client) []domain.Job {
	t.Helper()
	ids := []string{"keep-1", "keep-2", "keep-3", "keep-4"}
	for i, id := range ids {
		path := "/jobs?queue=true"
		if i == 3 {
			path = "/jobs"
		}
		c.must(http.MethodPost, path, specJSON(id, "/data/vm.vmdk", ""), http.StatusCreated)
	}
	c.must(http.MethodDelete, "/jobs/keep-2", "", http.StatusOK)
	var out []domain.Job
	for _, id := range ids {
		out = append(out, c.job(id))
	}
	return out
}

// checkOutage: reads, writes, listings and /health all answer 503 with the envelope.
func checkOutage(t *testing.T, c *client, id string) {
	t.Helper()
	calls := []struct{ method, path, body string }{
		{http.MethodGet, "/jobs/" + id, ""},
		{http.MethodPost, "/jobs?queue=true", specJSON("during-outage", "/data/vm.vmdk", "")},
		{http.MethodGet, "/jobs", ""},
		{http.MethodDelete, "/jobs/" + id, ""},
		{http.MethodGet, "/health", ""},
	}
	for _, call := range calls {
		r := c.do(call.method, call.path, call.body)
		t.Logf("outage: %s %s answered %d in %s", call.method, call.path, r.status,
			r.took.Round(time.Millisecond))
		check503(t, call.method+" "+call.path, r)
	}
}

func check503(t *testing.T, what string, r reply) {
	t.Helper()
	code, kind, msg, ok := envelopeOf(r)
	switch {
	case r.err != nil:
		t.Errorf("%s: no answer: %v", what, r.err)
	case r.status != http.StatusServiceUnavailable || !ok || code != 503 ||
		kind != domain.KindUnavailable:
		t.Errorf("%s: got %d %s, want 503 with type service_unavailable", what, r.status, r.body)
	case r.header.Get("Retry-After") == "":
		t.Errorf("%s: 503 without Retry-After", what)
	case strings.Contains(msg, "dial") || strings.Contains(msg, "127.0.0.1"):
		t.Errorf("%s: message leaks the cause: %q", what, msg)
	}
}

// checkRecovery waits for the API to answer again, without restarting it, compares every
// job with what it was before the outage, and returns a job submitted afterwards.
func checkRecovery(t *testing.T, c *client, before []domain.Job, when string) domain.Job {
	t.Helper()
	began := time.Now()
	waitFor(t, "the API to recover "+when, 60*time.Second, func() bool {
		return c.do(http.MethodGet, "/health", "").status == http.StatusOK
	})
	t.Logf("API healthy %s %s after DynamoDB answered", when,
		time.Since(began).Round(time.Millisecond))
	for _, want := range before {
		got := c.job(want.JobID)
		if got.State != want.State || !sameHistory(got, want) ||
			!got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("%s %s: got %s:%s\nwant %s:%s", want.JobID, when, got.State, history(got),
				want.State, history(want))
		}
	}
	id := "after-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	c.must(http.MethodPost, "/jobs?queue=true", specJSON(id, "/data/vm.vmdk", ""),
		http.StatusCreated)
	return c.job(id)
}

func sameHistory(a, b domain.Job) bool {
	if len(a.StateHistory) != len(b.StateHistory) {
		return false
	}
	for i, x := range a.StateHistory {
		y := b.StateHistory[i]
		if x.FromState != y.FromState || x.ToState != y.ToState || x.Reason != y.Reason ||
			!x.Timestamp.Equal(y.Timestamp) {
			return false
		}
	}
	return true
}
