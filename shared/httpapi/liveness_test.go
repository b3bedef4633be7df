package httpapi_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

type workerList struct {
	Workers []struct {
		WorkerID string `json:"worker_id"`
		Status   string `json:"status"`
	} `json:"workers"`
}

// TestWorkerGoesStale: a worker is alive while its last heartbeat is within the timeout.
func TestWorkerGoesStale(t *testing.T) {
	t.Parallel()
	c := newClock()
	f := setupStack(t, stacktest.Options{Clock: c.now},
		func(*stacktest.Stack) httpapi.Options { return httpapi.Options{} })
	f.call("POST", "/workers/register", exampleWorker).expect(t, http.StatusCreated, nil)
	status := func() string {
		var l workerList
		f.call("GET", "/workers", "").expect(t, http.StatusOK, &l)
		if len(l.Workers) != 1 {
			t.Fatalf("workers: got %+v, want worker-1 only", l.Workers)
		}
		return l.Workers[0].Status
	}
	c.advance(299 * time.Second)
	if got := status(); got != "alive" {
		t.Errorf("299 s after registering: got %s, want alive", got)
	}
	c.advance(2 * time.Second)
	if got := status(); got != "stale" {
		t.Errorf("301 s after registering: got %s, want stale", got)
	}
	f.submit(exampleJob, true)
	if got := f.job("convert-vm-123").Waiting; got != "no alive worker" {
		t.Errorf("waiting_reason with a stale worker: got %q, want %q", got, "no alive worker")
	}
	f.call("POST", "/workers/worker-1/heartbeat", "").expect(t, http.StatusOK, nil)
	if got := status(); got != "alive" {
		t.Errorf("after a heartbeat: got %s, want alive", got)
	}
	if got := f.job("convert-vm-123").Waiting; got != "waiting for a free worker" {
		t.Errorf("waiting_reason: got %q, want %q", got, "waiting for a free worker")
	}
}

// TestWaitingReasonNamesMissingCapability: a job no alive worker can run says why.
func TestWaitingReasonNamesMissingCapability(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.call("POST", "/workers/register", `{"worker_id": "plain", "capabilities": ["qemu_img"]}`).
		expect(t, http.StatusCreated, nil)
	f.submit(specWith("needs-nbd", "convert",
		`"capability_requirements": {"needs_nbd": true}`), true)
	if got := f.job("needs-nbd").Waiting; got != "no alive worker with nbd" {
		t.Errorf("waiting_reason: got %q, want %q", got, "no alive worker with nbd")
	}
	f.call("POST", "/queue/dequeue", `{"worker_id": "plain", "capabilities": ["qemu_img"],
		"wait_seconds": 1}`).expect(t, http.StatusNoContent, nil)
	if s := f.job("needs-nbd").State; s != "QUEUED" {
		t.Errorf("after a dequeue by a worker without nbd: got %s, want QUEUED", s)
	}
	f.call("POST", "/workers/register", `{"worker_id": "w", "capabilities": ["gpu"]}`).
		wantError(t, http.StatusBadRequest, "validation_failed", "/workers/register").
		wantField(t, "capabilities.gpu")
}

// TestStreamKeepAliveAndMaxDuration: an idle stream sends comment keep-alives and ends at
// its time limit, so the client reconnects with Last-Event-ID.
func TestStreamKeepAliveAndMaxDuration(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{Stream: httpapi.StreamOptions{FastPoll: 10 * time.Millisecond,
		SlowPoll: 20 * time.Millisecond, KeepAlive: 20 * time.Millisecond,
		MaxDuration: 1500 * time.Millisecond}})
	f.submit(exampleJob, true)
	start := time.Now()
	resp, _ := f.stream(streamPath)
	sc := bufio.NewScanner(resp.Body)
	var keepAlives int
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), ":") {
			keepAlives++
		}
		if strings.HasPrefix(sc.Text(), "event:") {
			t.Errorf("idle stream: got %q, want no events", sc.Text())
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("stream: %v", err)
	}
	if keepAlives < 2 {
		t.Errorf("keep-alive comments: got %d in %s, want at least 2", keepAlives,
			time.Since(start))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stream lasted %s, want it to end after MaxDuration", d)
	}
}

// TestUnavailableDependencies: with DynamoDB and SQS unreachable, health answers 503 and
// the routes the envelope, naming no internal error.
func TestUnavailableDependencies(t *testing.T) {
	t.Parallel()
	f := setupWith(t, func(st *stacktest.Stack) httpapi.Options { return httpapi.Options{} })
	cfg := f.st.Config
	cfg.DynamoEndpoint, cfg.SQSEndpoint = "http://127.0.0.1:1", "http://127.0.0.1:1"
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	svc, err := awsenv.Build(ctx, cfg, f.st.Log)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	dead := &fixture{t: t, st: f.st, ctx: f.ctx}
	dead.srv = newServer(t, httpapi.New(svc, f.st.Log, httpapi.Options{}).Handler())
	h := dead.call("GET", "/health", "").object(t, http.StatusServiceUnavailable)
	if h["status"] != "unhealthy" || h["error"] == nil {
		t.Errorf("health: got %v, want status unhealthy and the error envelope", h)
	}
	r := dead.call("GET", "/jobs/convert-vm-123", "")
	e := r.wantError(t, http.StatusServiceUnavailable, "service_unavailable",
		"/jobs/convert-vm-123")
	for _, leak := range []string{"127.0.0.1", "dial", "refused", "DynamoDB", "operation"} {
		if strings.Contains(e.Message, leak) {
			t.Errorf("message: got %q, want no internal detail (%s)", e.Message, leak)
		}
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("Retry-After: got none, want one on 503")
	}
}
