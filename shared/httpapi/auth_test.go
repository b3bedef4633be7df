package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/metrics"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

const (
	clientToken  = "client-token-0123456789"
	workerToken  = "worker-token-0123456789"
	metricsToken = "metrics-token-0123456789"
	origin       = "https://console.example.com"
)

// clock is a settable time for stream token expiry.
type clock struct{ unixNano atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.unixNano.Store(time.Now().UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.unixNano.Load()) }
func (c *clock) advance(d time.Duration) { c.unixNano.Add(int64(d)) }

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

func withOrigin(o string, h ...string) []string {
	return append([]string{"Origin", o}, h...)
}

// setupAuth serves the API with the three bearer roles, signed stream tokens, metrics and
// one allowed CORS origin.
func setupAuth(t *testing.T) (*fixture, *clock) {
	t.Helper()
	c := newClock()
	signer := &httpapi.StreamSigner{Secret: []byte("test-stream-secret-0123456789"),
		TTL: time.Minute, Now: c.now}
	f := setupWith(t, func(st *stacktest.Stack) httpapi.Options {
		return httpapi.Options{StreamTokens: signer, AllowedOrigins: []string{origin},
			Metrics: metrics.Handler(st.Svc, st.Log),
			Auth: httpapi.BearerTokens{Client: clientToken, Worker: workerToken,
				Metrics: metricsToken, Streams: signer}}
	})
	return f, c
}

func TestBearerRoles(t *testing.T) {
	t.Parallel()
	f, _ := setupAuth(t)
	routes := []struct {
		method, path, body, right string
		ok                        int
	}{
		{"GET", "/jobs", "", clientToken, http.StatusOK},
		{"GET", "/workers", "", clientToken, http.StatusOK},
		{"POST", "/workers/register", exampleWorker, workerToken, http.StatusCreated},
		{"POST", "/queue/dequeue", `{"worker_id": "worker-1", "capabilities": ["qemu_img"]}`,
			workerToken, http.StatusNoContent},
		{"GET", "/metrics", "", metricsToken, http.StatusOK},
	}
	for _, rt := range routes {
		none := f.call(rt.method, rt.path, rt.body)
		none.wantError(t, http.StatusUnauthorized, "unauthorized", rt.path)
		// RFC 9110 15.5.2: a 401 must carry a challenge saying how to authenticate.
		if got := none.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("%s %s: WWW-Authenticate got %q, want a Bearer challenge", rt.method,
				rt.path, got)
		}
		f.call(rt.method, rt.path, rt.body, "Authorization", "Bearer ").wantError(t,
			http.StatusUnauthorized, "unauthorized", rt.path)
		for _, wrong := range []string{clientToken, workerToken, metricsToken, "nonsense"} {
			if wrong != rt.right {
				f.call(rt.method, rt.path, rt.body, bearer(wrong)...).wantError(t,
					http.StatusForbidden, "forbidden", rt.path)
			}
		}
		if r := f.call(rt.method, rt.path, rt.body, bearer(rt.right)...); r.status != rt.ok {
			t.Errorf("%s %s with its token: got %d, want %d: %s", rt.method, rt.path,
				r.status, rt.ok, r.body)
		}
	}
	f.call("GET", "/health", "").expect(t, http.StatusOK, nil)
	prom := f.call("GET", "/metrics", "", bearer(metricsToken)...)
	if !strings.Contains(string(prom.body), "hyper2kvm_") {
		t.Errorf("metrics: got %.200s, want hyper2kvm_ series", prom.body)
	}
}

// TestStreamToken: stream_url opens that one job's stream without a header, and nothing
// else; an expired token opens nothing.
func TestStreamToken(t *testing.T) {
	t.Parallel()
	f, c := setupAuth(t)
	f.submit(exampleJob, true, bearer(clientToken)...)
	f.submit(specWith("other-job", "inspect", `"parameters": {}`), true, bearer(clientToken)...)
	j := f.job("convert-vm-123", bearer(clientToken)...)
	u, err := url.Parse(j.StreamURL)
	if err != nil || u.Query().Get("access_token") == "" || u.Path != streamPath {
		t.Fatalf("stream_url: got %q, want %s?access_token=...", j.StreamURL, streamPath)
	}
	resp, rd := f.stream(u.RequestURI())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream with access_token: got %d, want 200", resp.StatusCode)
	}
	if ev := next(t, rd); ev.Retry <= 0 {
		t.Errorf("first frame: got %+v, want retry:", ev)
	}
	token := "?access_token=" + url.QueryEscape(u.Query().Get("access_token"))
	refused(t, f.call("GET", "/jobs/other-job/events/stream"+token, ""),
		"/jobs/other-job/events/stream")
	f.call("GET", "/jobs/convert-vm-123"+token, "").wantError(t, http.StatusUnauthorized,
		"unauthorized", "/jobs/convert-vm-123")
	c.advance(time.Minute + 2*time.Second)
	refused(t, f.call("GET", streamPath+token, ""), streamPath)
}

// refused accepts 401 or 403 for a token that does not open the stream, with the envelope.
func refused(t *testing.T, r reply, path string) {
	t.Helper()
	switch r.status {
	case http.StatusUnauthorized:
		r.wantError(t, r.status, "unauthorized", path)
	default:
		r.wantError(t, http.StatusForbidden, "forbidden", path)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	f, _ := setupAuth(t)
	allowed := f.call("GET", "/health", "", withOrigin(origin)...)
	if got := allowed.header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("allowed origin: got Access-Control-Allow-Origin %q, want %q", got, origin)
	}
	if !strings.Contains(strings.Join(allowed.header.Values("Vary"), ","), "Origin") {
		t.Errorf("Vary: got %q, want Origin", allowed.header.Values("Vary"))
	}
	denied := f.call("GET", "/jobs", "", withOrigin(origin)...)
	denied.wantError(t, http.StatusUnauthorized, "unauthorized", "/jobs")
	if got := denied.header.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("error for allowed origin: got ACAO %q, want %q", got, origin)
	}
	evil := f.call("GET", "/health", "", withOrigin("https://evil.example.net")...)
	if got := evil.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("disallowed origin: got ACAO %q, want none", got)
	}
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	f, _ := setupAuth(t)
	pre := f.call("OPTIONS", "/jobs", "", withOrigin(origin,
		"Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization, content-type")...)
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("preflight: got %d ACAO %q, want 204 %q", pre.status,
			pre.header.Get("Access-Control-Allow-Origin"), origin)
	}
	for _, h := range []string{"Authorization", "Last-Event-ID", "X-Lease-Token"} {
		if !strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), h) {
			t.Errorf("Access-Control-Allow-Headers: got %q, want %s",
				pre.header.Get("Access-Control-Allow-Headers"), h)
		}
	}
	if got := pre.header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
		t.Errorf("Access-Control-Allow-Methods: got %q, want POST", got)
	}
	bad := f.call("OPTIONS", "/jobs", "", withOrigin("https://evil.example.net",
		"Access-Control-Request-Method", "POST")...)
	if got := bad.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("refused preflight: got ACAO %q, want none", got)
	}
	bad.wantError(t, http.StatusForbidden, "forbidden", "/jobs")
}
