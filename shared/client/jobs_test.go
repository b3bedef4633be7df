package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// recorder answers every request with one canned body and remembers what was asked.
type recorder struct {
	mu     sync.Mutex
	seen   []string
	status int
	body   string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.RequestURI()+" "+string(b))
	status, body := r.status, r.body
	r.mu.Unlock()
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func setup(t *testing.T, status int, body string) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{status: status, body: body}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c := New(srv.URL, "")
	c.HTTP = srv.Client()
	return c, rec
}

func TestQueryEncoding(t *testing.T) {
	t.Parallel()
	c, rec := setup(t, http.StatusOK, `{}`)
	ctx := context.Background()
	since := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	calls := []func() error{
		func() error { _, err := c.Jobs(ctx, JobQuery{}); return err },
		func() error {
			_, err := c.Jobs(ctx, JobQuery{State: "FAILED", Limit: 5, Next: "a b&c"})
			return err
		},
		func() error { _, err := c.Events(ctx, "j/1", EventQuery{}); return err },
		func() error {
			_, err := c.Events(ctx, "j", EventQuery{After: 7, Since: since, Limit: 9})
			return err
		},
		func() error { _, err := c.QueueJob(ctx, "j 1"); return err },
		func() error { _, err := c.Cancel(ctx, "j"); return err },
	}
	for _, call := range calls {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"GET /jobs ",
		"GET /jobs?limit=5&next=a+b%26c&state=FAILED ",
		"GET /jobs/j%2F1/events ",
		"GET /jobs/j/events?after=7&limit=9&since=2026-01-02T02%3A04%3A05.000000006Z ",
		"POST /jobs/j%201/queue ",
		"DELETE /jobs/j ",
	}
	for i := range want {
		if rec.seen[i] != want[i] {
			t.Errorf("request %d: got %q, want %q", i, rec.seen[i], want[i])
		}
	}
}

func TestSubmitTellsCreatedFromResubmitted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status  int
		created bool
	}{{http.StatusCreated, true}, {http.StatusOK, false}} {
		c, rec := setup(t, tc.status, `{"job_id": "j", "state": "QUEUED", "queue_position": 2}`)
		ans, err := c.Submit(context.Background(), []byte(`{"job_id":"j"}`), true)
		if err != nil || ans.Created != tc.created || ans.QueuePosition != 2 {
			t.Errorf("status %d: got %+v, %v; want created=%v", tc.status, ans, err, tc.created)
		}
		if want := `POST /jobs?queue=true {"job_id":"j"}`; rec.seen[0] != want {
			t.Errorf("request: got %q, want %q", rec.seen[0], want)
		}
	}
}

func TestHealthUnavailableIsAnAPIError(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, http.StatusServiceUnavailable, `{"status": "unhealthy", "error": `+
		`{"code": 503, "type": "service_unavailable", "message": "sqs unreachable"}}`)
	_, err := c.Health(context.Background())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Message != "sqs unreachable" {
		t.Errorf("got %v, want an APIError 503 with the envelope message", err)
	}
}
