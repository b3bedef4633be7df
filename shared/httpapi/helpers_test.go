package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// The protocol's own examples, sent verbatim.
const (
	exampleJob = `{"job_id": "convert-vm-123", "operation": "convert", "image": ` +
		`{"path": "/data/vm.vmdk", "format": "vmdk"}, "parameters": {"output_format": "qcow2"}}`
	exampleWorker = `{"worker_id": "worker-1", "capabilities": ["nbd_access", ` +
		`"lvm_tools", "qemu_img"], "execution_mode": "PRIVILEGED_CONTAINER"}`
)

// fastStream polls often, so that SSE tests wait milliseconds, not seconds.
var fastStream = httpapi.StreamOptions{FastPoll: 10 * time.Millisecond,
	SlowPoll: 50 * time.Millisecond, MaxDuration: time.Minute}

// fixture is one test's API over its own stack, served on 127.0.0.1.
type fixture struct {
	t   *testing.T
	st  *stacktest.Stack
	srv *httptest.Server
	ctx context.Context
}

// setup builds a fresh stack and serves every route over it.
func setup(t *testing.T, opts httpapi.Options) *fixture {
	t.Helper()
	return setupWith(t, func(*stacktest.Stack) httpapi.Options { return opts })
}

// setupWith builds the options from the stack, for those that need its service.
func setupWith(t *testing.T, options func(*stacktest.Stack) httpapi.Options) *fixture {
	t.Helper()
	return setupStack(t, stacktest.Options{}, options)
}

// setupStack also sets the stack's options (its clock, for one).
func setupStack(t *testing.T, so stacktest.Options,
	options func(*stacktest.Stack) httpapi.Options) *fixture {
	t.Helper()
	st := stacktest.New(t, so)
	opts := options(st)
	if opts.Stream == (httpapi.StreamOptions{}) {
		opts.Stream = fastStream
	}
	srv := newServer(t, httpapi.New(st.Svc, st.Log, opts).Handler())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &fixture{t: t, st: st, srv: srv, ctx: ctx}
}

// newServer serves h on 127.0.0.1 until the test ends.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// reply is a whole HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request; body "" sends none; headers are name, value pairs.
func (f *fixture) call(method, path, body string, headers ...string) reply {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(f.ctx, method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatalf("build %s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: data}
}

// expect fails the test unless the answer has the status, and decodes its JSON body into v
// (when v is not nil).
func (r reply) expect(t *testing.T, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status: got %d, want %d; body %s", r.status, status, r.body)
	}
	if v == nil {
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// object decodes a JSON object answer with the status.
func (r reply) object(t *testing.T, status int) map[string]any {
	t.Helper()
	var m map[string]any
	r.expect(t, status, &m)
	return m
}

// submit posts a job spec and returns the answer's fields.
func (f *fixture) submit(body string, queue bool, headers ...string) submitted {
	f.t.Helper()
	path := "/jobs"
	if queue {
		path += "?queue=true"
	}
	var s submitted
	f.call("POST", path, body, headers...).expect(f.t, http.StatusCreated, &s)
	return s
}

type submitted struct {
	JobID         string  `json:"job_id"`
	State         string  `json:"state"`
	Message       string  `json:"message"`
	QueuePosition *int    `json:"queue_position"`
	StreamURL     string  `json:"stream_url"`
	Job           jobView `json:"job"`
}

// jobView is GET /jobs/{id} as a client reads it.
type jobView struct {
	JobID        string           `json:"job_id"`
	Spec         map[string]any   `json:"spec"`
	State        string           `json:"state"`
	StateHistory []transitionView `json:"state_history"`
	Result       *resultView      `json:"result"`
	LatestEvent  map[string]any   `json:"latest_event"`
	Attempt      int              `json:"attempt"`
	WorkerID     string           `json:"worker_id"`
	CancelReq    bool             `json:"cancel_requested"`
	Waiting      string           `json:"waiting_reason"`
	CreatedAt    string           `json:"created_at"`
	UpdatedAt    string           `json:"updated_at"`
	StreamURL    string           `json:"stream_url"`
}

type transitionView struct {
	From   string `json:"from_state"`
	To     string `json:"to_state"`
	At     string `json:"timestamp"`
	Reason string `json:"reason"`
}

type resultView struct {
	Status  string            `json:"status"`
	Outputs map[string]any    `json:"outputs"`
	Error   map[string]string `json:"error"`
}

func (f *fixture) job(id string, headers ...string) jobView {
	f.t.Helper()
	var j jobView
	f.call("GET", "/jobs/"+id, "", headers...).expect(f.t, http.StatusOK, &j)
	return j
}

// wantUTC fails unless s is an RFC 3339 time in UTC written with Z.
func wantUTC(t *testing.T, name, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Errorf("%s: got %q, want an RFC 3339 time ending in Z (%v)", name, s, err)
	}
	return at
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
