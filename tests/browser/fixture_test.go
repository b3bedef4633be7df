package browser

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

const (
	clientToken = "client-token-0123456789"
	workerToken = "worker-token-0123456789"
	// exampleJob is the protocol's submit example, verbatim.
	exampleJob = `{"job_id": "convert-vm-123", "operation": "convert", "image": ` +
		`{"path": "/data/vm.vmdk", "format": "vmdk"}, "parameters": {"output_format": "qcow2"}}`
	jobID = "convert-vm-123"
)

//go:embed testdata/example.html
var pages embed.FS

var examplePage = template.Must(template.ParseFS(pages, "testdata/example.html"))

// fixture is one test's API over its own stack, and two page servers on other origins of
// 127.0.0.1: allowed, which the CORS allow-list admits, and other, which it does not.
type fixture struct {
	t              *testing.T
	ctx            context.Context
	st             *stacktest.Stack
	api            *httptest.Server
	seen           *recorder
	allowed, other *httptest.Server
	chromium       string
}

// setup builds the fixture; the page servers listen at once, so their origins are known to
// the allow-list, and start serving once serve is given the stream URL.
func setup(t *testing.T) *fixture {
	t.Helper()
	chromium := findChromium(t)
	st := stacktest.New(t, stacktest.Options{})
	allowed, other := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	t.Cleanup(allowed.Close)
	t.Cleanup(other.Close)
	signer := &httpapi.StreamSigner{Secret: []byte("browser-test-stream-secret-0123"),
		TTL: 5 * time.Minute, Now: time.Now}
	auth := httpapi.BearerTokens{Client: clientToken, Worker: workerToken, Streams: signer}
	api := httpapi.New(st.Svc, st.Log, httpapi.Options{Auth: auth, StreamTokens: signer,
		AllowedOrigins: []string{origin(allowed)},
		Stream: httpapi.StreamOptions{FastPoll: 10 * time.Millisecond,
			SlowPoll: 50 * time.Millisecond, MaxDuration: time.Minute},
	})
	seen := &recorder{}
	srv := httptest.NewServer(seen.wrap(api.Handler()))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &fixture{t: t, ctx: ctx, st: st, api: srv, seen: seen, allowed: allowed,
		other: other, chromium: chromium}
}

// origin is the origin a page server's pages have, as a browser writes it in Origin.
func origin(s *httptest.Server) string { return "http://" + s.Listener.Addr().String() }

// serve starts both page servers with the example page opening streamURL.
func (f *fixture) serve(streamURL string) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := examplePage.Execute(w, streamURL); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	for _, s := range []*httptest.Server{f.allowed, f.other} {
		s.Config.Handler = page
		s.Start()
	}
}

// loaded is the outcome of one page load: the dumped DOM or why there is none.
type loaded struct {
	dom string
	err error
}

// loading starts Chromium on the page server's page and returns where its outcome arrives.
// The test owns the browser: a cleanup ends it, and waits for it, if the test ends first.
func (f *fixture) loading(s *httptest.Server) <-chan loaded {
	profile := f.t.TempDir()
	ctx, cancel := context.WithCancel(f.ctx)
	out, exited := make(chan loaded, 1), make(chan struct{})
	go func() {
		defer close(exited)
		dom, err := dumpDOM(ctx, f.chromium, profile, s.URL+"/")
		out <- loaded{dom: dom, err: err}
	}()
	f.t.Cleanup(func() {
		cancel()
		<-exited
	})
	return out
}

// records waits for a page load and returns what the page recorded.
func (f *fixture) records(page <-chan loaded) []string {
	f.t.Helper()
	l := <-page
	if l.err != nil {
		f.t.Fatal(l.err)
	}
	return received(f.t, l.dom)
}

// call sends one request to the API with the client token and decodes a JSON answer.
func (f *fixture) call(method, path, body string, status int, v any) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(f.ctx, method, f.api.URL+path, rd)
	if err != nil {
		f.t.Fatalf("build %s %s: %v", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+clientToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.api.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != status {
		f.t.Fatalf("%s %s: got %d (%v), want %d; body %s", method, path, resp.StatusCode, err,
			status, data)
	}
	if err := json.Unmarshal(data, v); err != nil {
		f.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
	}
}

// submit sends the example job, queued, and returns its stream_url from GET /jobs/{id}.
func (f *fixture) submit() string {
	f.t.Helper()
	var created struct{ State string }
	f.call("POST", "/jobs?queue=true", exampleJob, http.StatusCreated, &created)
	var job struct {
		StreamURL string `json:"stream_url"`
	}
	f.call("GET", "/jobs/"+jobID, "", http.StatusOK, &job)
	if !strings.HasPrefix(job.StreamURL, f.api.URL+"/jobs/"+jobID+"/events/stream?") ||
		!strings.Contains(job.StreamURL, "access_token=") {
		f.t.Fatalf("stream_url: got %q, want a signed URL on %s", job.StreamURL, f.api.URL)
	}
	return job.StreamURL
}

// claim registers a worker and claims the job for it, as the worker host does.
func (f *fixture) claim() service.Lease {
	f.t.Helper()
	w := domain.Worker{WorkerID: "host-1", Capabilities: domain.Capabilities{QemuImg: true}}
	reg := domain.Registration{WorkerID: w.WorkerID, Capabilities: w.Capabilities}
	if _, err := f.st.Svc.Register(f.ctx, reg); err != nil {
		f.t.Fatalf("register: %v", err)
	}
	for round := 0; f.ctx.Err() == nil; round++ {
		got, err := f.st.Svc.Poll(f.ctx, w, round, time.Second)
		if err != nil {
			f.t.Fatalf("poll: %v", err)
		}
		if got != nil {
			return got.Lease
		}
	}
	f.t.Fatal("the job was not handed out")
	return service.Lease{}
}

// report sends one progress report for the lease holder.
func (f *fixture) report(l service.Lease, pct float64) {
	f.t.Helper()
	_, _, err := f.st.Svc.ReportEvent(f.ctx, l.JobID, l.Token, domain.EventReport{
		Phase: domain.PhaseConversion, ProgressPercent: &pct, Message: message(pct)})
	if err != nil {
		f.t.Fatalf("report %v: %v", pct, err)
	}
}

// message is the report's text for pct, distinct per report so that order shows.
func message(pct float64) string { return fmt.Sprintf("converted %g%%", pct) }

// finish ends the job COMPLETED.
func (f *fixture) finish(l service.Lease) {
	f.t.Helper()
	r := domain.Result{Status: domain.StateCompleted,
		Outputs: domain.Outputs{FixedImage: "/out/" + l.JobID + ".qcow2"}}
	if _, err := f.st.Svc.Finish(f.ctx, l.JobID, l.Token, r); err != nil {
		f.t.Fatalf("finish: %v", err)
	}
}

// stored is what the page should have recorded for the job's stored events, read over the
// polling route: one [percentage, message] per event, then ["complete", state].
func (f *fixture) stored(state string) []string {
	f.t.Helper()
	var page struct {
		Events []struct {
			Percentage float64 `json:"percentage"`
			Message    string  `json:"message"`
		} `json:"events"`
	}
	f.call("GET", "/jobs/"+jobID+"/events?limit=1000", "", http.StatusOK, &page)
	var out []string
	for _, ev := range page.Events {
		out = append(out, jsonText([]any{ev.Percentage, ev.Message}))
	}
	return append(out, jsonText([]any{"complete", state}))
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only numbers and strings are marshalled here
	}
	return string(b)
}

// request is one request the API saw on the stream route.
type request struct {
	Method, Origin, Accept string
	Signed                 bool // carries access_token
}

// recorder notes every request to the stream route before the API (and its CORS layer)
// sees it, so a test can tell that the browser really asked, and from which origin.
type recorder struct {
	mu   sync.Mutex
	reqs []request
}

func (rec *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/events/stream") {
			rec.mu.Lock()
			rec.reqs = append(rec.reqs, request{Method: r.Method, Origin: r.Header.Get("Origin"),
				Accept: r.Header.Get("Accept"), Signed: r.URL.Query().Has("access_token")})
			rec.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// from returns the stream requests that came with origin.
func (rec *recorder) from(origin string) []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(rec.reqs), func(r request) bool {
		return r.Origin != origin
	})
}

// all returns every stream request seen.
func (rec *recorder) all() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}
