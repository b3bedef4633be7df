package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
)

func TestSubmitLaterQueueAndResubmit(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	s := f.submit(exampleJob, false)
	if s.State != "VALIDATED" || s.QueuePosition == nil || *s.QueuePosition != 0 {
		t.Errorf("submit: got state %s position %v, want VALIDATED 0", s.State, s.QueuePosition)
	}
	if !strings.HasSuffix(s.StreamURL, "/jobs/convert-vm-123/events/stream") {
		t.Errorf("stream_url: got %q, want the job's stream", s.StreamURL)
	}
	var again submitted
	f.call("POST", "/jobs", exampleJob).expect(t, http.StatusOK, &again)
	if again.JobID != s.JobID || again.State != "VALIDATED" {
		t.Errorf("resubmit: got %s %s, want the existing job", again.JobID, again.State)
	}
	other := strings.Replace(exampleJob, "qcow2", "raw", 1)
	f.call("POST", "/jobs", other).wantError(t, http.StatusConflict, "conflict", "/jobs")

	var q jobView
	f.call("POST", "/jobs/convert-vm-123/queue", "").expect(t, http.StatusOK, &q)
	if q.State != "QUEUED" {
		t.Errorf("queue: got %s, want QUEUED", q.State)
	}
	e := f.call("POST", "/jobs/convert-vm-123/queue", "").wantError(t,
		http.StatusConflict, "invalid_transition", "/jobs/convert-vm-123/queue")
	if !strings.Contains(e.Message, "convert-vm-123") {
		t.Errorf("message: got %q, want the job named", e.Message)
	}
	f.call("POST", "/jobs/nope/queue", "").wantError(t, http.StatusNotFound, "not_found",
		"/jobs/nope/queue")
}

func TestGetJobShowsEverything(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(exampleJob, true)
	m := f.call("GET", "/jobs/convert-vm-123", "").object(t, http.StatusOK)
	for _, k := range []string{"job_id", "spec", "state", "state_history", "result",
		"latest_event", "attempt", "lease_expires_at", "cancel_requested", "waiting_reason",
		"created_at", "updated_at", "stream_url"} {
		if _, ok := m[k]; !ok {
			t.Errorf("GET /jobs/{id} lacks %q", k)
		}
	}
	j := f.job("convert-vm-123")
	wantUTC(t, "created_at", j.CreatedAt)
	wantUTC(t, "updated_at", j.UpdatedAt)
	if got := states(j.StateHistory); !slices.Equal(got, []string{"VALIDATED", "QUEUED"}) {
		t.Errorf("state_history: got %v, want [VALIDATED QUEUED]", got)
	}
	for _, h := range j.StateHistory {
		wantUTC(t, "state_history.timestamp", h.At)
	}
	if j.Waiting != "no alive worker" {
		t.Errorf("waiting_reason: got %q, want %q", j.Waiting, "no alive worker")
	}
	f.call("GET", "/jobs/bad%20id", "").wantError(t, http.StatusBadRequest,
		"validation_failed", "/jobs/bad id").wantField(t, "job_id")
	f.call("GET", "/jobs/convert-vm-123?verbose=1", "").wantError(t, http.StatusBadRequest,
		"validation_failed", "/jobs/convert-vm-123").wantField(t, "verbose")
}

func states(h []transitionView) []string {
	out := make([]string, len(h))
	for i, t := range h {
		out[i] = t.To
	}
	return out
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(specWith("a-1", "convert", `"parameters": {}`), true)
	f.submit(specWith("b-2", "inspect", `"requested_actions": []`), false)
	var all struct {
		Jobs  []jobView `json:"jobs"`
		Count int       `json:"count"`
		Next  string    `json:"next"`
	}
	f.call("GET", "/jobs", "").expect(t, http.StatusOK, &all)
	if all.Count != 2 || len(all.Jobs) != 2 {
		t.Errorf("GET /jobs: got %d jobs, want 2", all.Count)
	}
	f.call("GET", "/jobs?state=QUEUED&limit=1", "").expect(t, http.StatusOK, &all)
	if all.Count != 1 || all.Jobs[0].JobID != "a-1" {
		t.Errorf("state=QUEUED: got %+v, want a-1 only", all.Jobs)
	}
	f.call("GET", "/jobs?limit=1", "").expect(t, http.StatusOK, &all)
	first := all.Jobs[0].JobID
	if all.Count != 1 || all.Next == "" {
		t.Fatalf("limit=1: got %d jobs, next %q, want 1 and a cursor", all.Count, all.Next)
	}
	f.call("GET", "/jobs?limit=1&next="+all.Next, "").expect(t, http.StatusOK, &all)
	if all.Count != 1 || all.Jobs[0].JobID == first {
		t.Errorf("second page: got %+v, want the other job", all.Jobs)
	}
	for q, field := range map[string]string{"state=DONE": "state", "limit=0": "limit",
		"limit=1001": "limit", "limit=x": "limit", "stat=QUEUED": "stat",
		"next=garbage": "next", "state=QUEUED&next=" + all.Next: "next"} {
		f.call("GET", "/jobs?"+q, "").wantError(t, http.StatusBadRequest,
			"validation_failed", "/jobs").wantField(t, field)
	}
	// A cursor is opaque: one that did not come from this listing is the caller's mistake,
	// not a store outage (503 with Retry-After invites retrying it for ever).
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"s":"","k":{"job_id":"x"}}`))
	f.call("GET", "/jobs?next="+forged, "").wantError(t, http.StatusBadRequest,
		"validation_failed", "/jobs").wantField(t, "next")
}

func TestCancel(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(exampleJob, true)
	var c struct {
		State           string `json:"state"`
		CancelRequested bool   `json:"cancel_requested"`
	}
	f.call("DELETE", "/jobs/convert-vm-123", "").expect(t, http.StatusOK, &c)
	if c.State != "CANCELLED" || c.CancelRequested {
		t.Errorf("cancel queued: got %+v, want CANCELLED at once", c)
	}
	e := f.call("DELETE", "/jobs/convert-vm-123", "").wantError(t, http.StatusConflict,
		"invalid_transition", "/jobs/convert-vm-123")
	if !strings.Contains(e.Message, "convert-vm-123") {
		t.Errorf("message: got %q, want the job named", e.Message)
	}
	f.call("POST", "/jobs/convert-vm-123/queue", "").wantError(t, http.StatusConflict,
		"invalid_transition", "/jobs/convert-vm-123/queue")
	f.call("DELETE", "/jobs/ghost", "").wantError(t, http.StatusNotFound, "not_found",
		"/jobs/ghost")
}

func TestSubmitValidation(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	body := `{"job_id": "-bad id", "operation": "fly", "image": {"path": "rel/x.vmdk",
		"format": "iso", "checksum": "md5:1"}, "execution_policy": {"priority": 11,
		"timeout_seconds": 5, "retry_count": 9}}`
	e := f.call("POST", "/jobs", body).wantError(t, http.StatusBadRequest,
		"validation_failed", "/jobs")
	for _, field := range []string{"job_id", "operation", "image.path", "image.format",
		"image.checksum", "execution_policy.priority", "execution_policy.timeout_seconds",
		"execution_policy.retry_count"} {
		e.wantField(t, field)
	}
	cases := map[string]string{
		`{"job_id": `:                      "body",
		`[1, 2]`:                           "body",
		`{"job_id": 7}`:                    "job_id",
		specWith("x", "convert", `"v": 1`): "v",
		specWith("x", "convert", `"parameters": {"output_format": "vmdk"}`): "parameters.output_format",
	}
	for b, field := range cases {
		f.call("POST", "/jobs", b).wantError(t, http.StatusBadRequest, "validation_failed",
			"/jobs").wantField(t, field)
	}
	f.call("POST", "/jobs?queue=maybe", exampleJob).wantError(t, http.StatusBadRequest,
		"validation_failed", "/jobs").wantField(t, "queue")
}

func TestUnknownRouteAndWrongMethod(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.call("GET", "/nothing/here", "").wantError(t, http.StatusNotFound, "not_found",
		"/nothing/here")
	cases := map[string][]string{
		"PUT /jobs":                {"GET", "POST"},
		"PATCH /jobs/x":            {"DELETE", "GET"},
		"GET /jobs/x/queue":        {"POST"},
		"PUT /jobs/x/events":       {"GET", "POST"},
		"GET /queue/dequeue":       {"POST"},
		"POST /health":             {"GET"},
		"GET /workers/w/heartbeat": {"POST"},
	}
	for req, want := range cases {
		method, path, _ := strings.Cut(req, " ")
		r := f.call(method, path, "")
		r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed", path)
		got := strings.Split(r.header.Get("Allow"), ", ")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: Allow got %v, want %v", req, got, want)
		}
	}
}

func TestBodyOverOneMiB(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	pad := strings.Repeat("x", httpapi.MaxBodyBytes)
	body := `{"job_id": "big", "operation": "inspect", "image": {"path": "/d/a"},
		"requested_actions": ["` + pad + `"]}`
	f.call("POST", "/jobs", body).wantError(t, http.StatusRequestEntityTooLarge,
		"payload_too_large", "/jobs")
	f.call("POST", "/workers/register", `{"worker_id": "w", "hostname": "`+pad+`"}`).
		wantError(t, http.StatusRequestEntityTooLarge, "payload_too_large", "/workers/register")
}

func TestQueueStatusDocsAndMetrics(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(exampleJob, true)
	var q struct {
		TotalJobs  *int           `json:"total_jobs"`
		ByPriority map[string]int `json:"by_priority"`
		QueuedJobs int            `json:"queued_jobs"`
		DeadLetter *int           `json:"dead_letter"`
		InFlight   *int           `json:"in_flight"`
	}
	f.call("GET", "/queue", "").expect(t, http.StatusOK, &q)
	if q.TotalJobs == nil || q.ByPriority == nil || q.DeadLetter == nil || q.InFlight == nil {
		t.Errorf("GET /queue: got %+v, want total_jobs, by_priority, dead_letter, in_flight", q)
	}
	if q.QueuedJobs != 1 {
		t.Errorf("queued_jobs: got %d, want 1", q.QueuedJobs)
	}
	f.call("GET", "/openapi.json", "").object(t, http.StatusOK)
	docs := f.call("GET", "/docs", "")
	if docs.status != http.StatusOK || !strings.HasPrefix(docs.header.Get("Content-Type"),
		"text/html") {
		t.Errorf("GET /docs: got %d %s, want 200 text/html", docs.status,
			docs.header.Get("Content-Type"))
	}
	f.call("GET", "/metrics", "").wantError(t, http.StatusNotFound, "not_found", "/metrics")
}
