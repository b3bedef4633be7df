package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/lambdaglue"
	"github.com/hyper2kvm/controlplane/shared/metrics"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// The secrets the SAM events under events/ were made with.
const (
	eventStreamSecret = "example-stream-token-secret-for-local-tests"
	eventScrapeToken  = "example-scrape-token-not-a-real-one"
)

// lambdaCase is one API Gateway event file and what its function must answer on a fresh
// stack after arrange. arrange returns a lease token to put in place of the file's own, or
// "" to send the file verbatim.
type lambdaCase struct {
	name    string
	file    string
	arrange func(*fixture) string
	status  int
	body    string // json, prometheus, html or sse
	errType string // the envelope type, for error statuses
}

func lambdaCases() []lambdaCase {
	return []lambdaCase{
		{"submit-job", "submit-job", nothing, 201, "json", ""},
		{"get-job", "get-job", queued, 200, "json", ""},
		{"get-job unknown", "get-job", nothing, 404, "json", "not_found"},
		{"list-jobs", "list-jobs", queued, 200, "json", ""},
		{"cancel-job", "cancel-job", queued, 200, "json", ""},
		{"cancel-job finished", "cancel-job", finished, 409, "json", "invalid_transition"},
		{"queue-job", "queue-job", validated, 200, "json", ""},
		{"queue-job queued", "queue-job", queued, 409, "json", "invalid_transition"},
		{"list-events", "list-events", finished, 200, "json", ""},
		{"stream-events", "stream-events", finished, 200, "sse", ""},
		{"report-event verbatim", "report-event", claimed, 409, "json", "lease_lost"},
		{"report-event", "report-event", withLease, 201, "json", ""},
		{"report-result verbatim", "report-result", claimed, 409, "json", "lease_lost"},
		{"report-result", "report-result", withLease, 200, "json", ""},
		{"register-worker", "register-worker", nothing, 201, "json", ""},
		{"worker-heartbeat", "worker-heartbeat", registered, 200, "json", ""},
		{"worker-heartbeat unknown", "worker-heartbeat", nothing, 404, "json", "not_found"},
		{"list-workers", "list-workers", registered, 200, "json", ""},
		{"unregister-worker", "unregister-worker", registered, 200, "json", ""},
		{"queue-status", "queue-status", queued, 200, "json", ""},
		{"dequeue", "dequeue", queued, 200, "json", ""},
		{"health", "health", nothing, 200, "json", ""},
		{"metrics", "metrics", finished, 200, "prometheus", ""},
		{"openapi", "openapi", nothing, 200, "json", ""},
		{"docs", "docs", nothing, 200, "html", ""},
	}
}

func nothing(*fixture) string { return "" }

func validated(f *fixture) string { f.submit(exampleJob, false); return "" }

func queued(f *fixture) string { f.submit(exampleJob, true); return "" }

func claimed(f *fixture) string { withLease(f); return "" }

// withLease sends the file with the real lease token of a fresh claim.
func withLease(f *fixture) string {
	f.submit(exampleJob, true)
	return f.claim().Token
}

func finished(f *fixture) string { f.runJob("", 10, 20, 30, 40); return "" }

func registered(f *fixture) string {
	f.call("POST", "/workers/register", exampleWorker).expect(f.t, 201, nil)
	return ""
}

// lambdaAPI is the API as the functions build it: gateway auth, the events' secrets.
func lambdaAPI(f *fixture) *httpapi.API {
	signer := &httpapi.StreamSigner{Secret: []byte(eventStreamSecret), TTL: time.Hour,
		Now: f.st.Svc.Now}
	return httpapi.New(f.st.Svc, f.st.Log, httpapi.Options{StreamTokens: signer,
		Auth:           httpapi.GatewayAuth{MetricsToken: eventScrapeToken, Streams: signer},
		Metrics:        metrics.Handler(f.st.Svc, f.st.Log),
		AllowedOrigins: []string{origin}, Stream: fastStream})
}

// readEvent reads an API Gateway proxy event; ok is false for other event kinds.
func readEvent(t *testing.T, file string) (events.APIGatewayProxyRequest, bool) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return ev, ev.HTTPMethod != ""
}

// TestLambdaEventFiles feeds every API Gateway event of events/ to its function's handler.
func TestLambdaEventFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("events: %v, %d files", err, len(files))
	}
	covered := map[string]bool{}
	for _, c := range lambdaCases() {
		covered[c.file] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev, ok := readEvent(t, "../../events/"+c.file+".json")
			if !ok {
				t.Fatalf("%s is not an API Gateway proxy event", c.file)
			}
			runLambdaCase(t, c, ev)
		})
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		if _, ok := readEvent(t, file); ok && !covered[name] {
			t.Errorf("events/%s.json has no expected answer in lambdaCases", name)
		}
	}
}

func runLambdaCase(t *testing.T, c lambdaCase, ev events.APIGatewayProxyRequest) {
	f := setupWith(t, func(*stacktest.Stack) httpapi.Options { return httpapi.Options{} })
	if token := c.arrange(f); token != "" {
		ev.Headers["X-Lease-Token"] = token
		ev.MultiValueHeaders["X-Lease-Token"] = []string{token}
	}
	h := lambdaAPI(f).RouteHandler(c.file)
	if c.body == "sse" {
		checkLambdaStream(t, f, h, ev)
		return
	}
	resp, err := lambdaglue.Proxy(h)(f.ctx, ev)
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	r := reply{status: resp.StatusCode, header: proxyHeaders(resp), body: []byte(resp.Body)}
	if c.errType != "" {
		r.wantError(t, c.status, c.errType, ev.Path)
		return
	}
	if r.status != c.status {
		t.Fatalf("status: got %d, want %d; body %s", r.status, c.status, r.body)
	}
	checkBody(t, c.body, r)
}

func proxyHeaders(resp events.APIGatewayProxyResponse) map[string][]string {
	h := map[string][]string{}
	for k, v := range resp.MultiValueHeaders {
		h[k] = v
	}
	for k, v := range resp.Headers {
		h[k] = []string{v}
	}
	return h
}

func checkBody(t *testing.T, kind string, r reply) {
	t.Helper()
	ct := r.header.Get("Content-Type")
	switch kind {
	case "json":
		if !strings.HasPrefix(ct, "application/json") || !json.Valid(r.body) {
			t.Errorf("body: got %q %.200s, want valid JSON", ct, r.body)
		}
	case "prometheus":
		if !strings.HasPrefix(ct, "text/plain") ||
			!strings.Contains(string(r.body), "# TYPE hyper2kvm_migration_total counter") {
			t.Errorf("body: got %q %.300s, want Prometheus text", ct, r.body)
		}
	case "html":
		page := strings.ToLower(string(r.body))
		if !strings.HasPrefix(ct, "text/html") || !strings.HasPrefix(page, "<!doctype html") {
			t.Errorf("body: got %q %.200s, want an HTML page", ct, r.body)
		}
	}
	if kind == "prometheus" && !strings.Contains(string(r.body),
		`hyper2kvm_migration_total{operation="convert",status="COMPLETED"} 1`) {
		t.Errorf("metrics: want the finished job counted, got %.2000s", r.body)
	}
}

// checkLambdaStream reads the streamed answer: the file asks to resume after event 3 of a
// finished job with events 1-5, so it gets events 4 and 5 and then complete.
func checkLambdaStream(t *testing.T, f *fixture, h http.Handler,
	ev events.APIGatewayProxyRequest) {
	t.Helper()
	resp, err := lambdaglue.Stream(h)(f.ctx, ev)
	if err != nil {
		t.Fatalf("stream handler: %v", err)
	}
	t.Cleanup(func() { _ = resp.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status: got %d, want 200; body %s", resp.StatusCode, body)
	}
	hdr := http.Header(resp.MultiValueHeaders)
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type: got %q, want text/event-stream", ct)
	}
	if got := hdr.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("Access-Control-Allow-Origin: got %q, want %q", got, origin)
	}
	rd := client.NewSSEReader(resp.Body)
	next(t, rd) // retry:
	wantProgress(t, next(t, rd), 40)
	if seq := wantProgress(t, next(t, rd), 100); seq != 5 {
		t.Errorf("last seq: got %d, want 5", seq)
	}
	wantComplete(t, rd, "COMPLETED")
}
