package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// fakeAPI speaks the job API's wire shapes, built from the domain types the real handlers
// encode, with a scripted event stream that can drop connections.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	jobs     map[string]*domain.Job
	order    []string // list order
	events   map[string][]domain.Event
	workers  []domain.Worker
	pageSize int
	// drops[i] is how many events connection i of the stream sends before the connection
	// is cut in the middle of the next event; -1 or absent: no drop.
	drops []int
	// lastIDs records the Last-Event-ID header of each stream connection.
	lastIDs   []string
	requests  []string
	unhealthy bool
}

func newFake(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, jobs: map[string]*domain.Job{}, events: map[string][]domain.Event{},
		pageSize: 2}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", f.health)
	mux.HandleFunc("POST /jobs", f.submit)
	mux.HandleFunc("GET /jobs", f.list)
	mux.HandleFunc("GET /jobs/{id}", f.get)
	mux.HandleFunc("DELETE /jobs/{id}", f.cancel)
	mux.HandleFunc("POST /jobs/{id}/queue", f.queue)
	mux.HandleFunc("GET /jobs/{id}/events", f.listEvents)
	mux.HandleFunc("GET /jobs/{id}/events/stream", f.stream)
	mux.HandleFunc("POST /workers/register", f.register)
	mux.HandleFunc("GET /workers", f.listWorkers)
	mux.HandleFunc("GET /queue", f.queueStatus)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.fail(w, r, http.StatusNotFound, domain.KindNotFound, "no route "+r.URL.Path, nil)
	})
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI()+" "+
			r.Header.Get("Authorization"))
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// addJob stores a job in the given state with the given events.
func (f *fakeAPI) addJob(id string, st domain.State, evs ...domain.Event) *domain.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	j := &domain.Job{JobID: id, State: st, CreatedAt: at, UpdatedAt: at,
		Spec: domain.JobSpec{JobID: id, Operation: "convert",
			Image: domain.Image{Path: "/data/vm.vmdk"}}}
	for i := range evs {
		evs[i].JobID = id
	}
	if len(evs) > 0 {
		j.LatestEvent = &evs[len(evs)-1]
	}
	f.jobs[id] = j
	f.order = append(f.order, id)
	f.events[id] = evs
	return j
}

func (f *fakeAPI) job(w http.ResponseWriter, r *http.Request) (*domain.Job, bool) {
	f.mu.Lock()
	j, ok := f.jobs[r.PathValue("id")]
	f.mu.Unlock()
	if !ok {
		f.fail(w, r, http.StatusNotFound, domain.KindNotFound,
			"job "+r.PathValue("id")+" not found", nil)
	}
	return j, ok
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail writes the protocol's error envelope.
func (f *fakeAPI) fail(w http.ResponseWriter, r *http.Request, code int, kind domain.Kind,
	msg string, fields []domain.FieldError) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "type": kind,
		"message": msg, "path": r.URL.Path, "timestamp": "2026-01-02T03:04:05Z",
		"fields": fields}})
}

func (f *fakeAPI) health(w http.ResponseWriter, r *http.Request) {
	h := service.Health{Status: "healthy", Version: "v1", Workers: 2, ActiveJobs: 1,
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if f.unhealthy {
		f.fail(w, r, http.StatusServiceUnavailable, domain.KindUnavailable,
			"a dependency is unreachable: dynamodb unreachable", nil)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (f *fakeAPI) submit(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	spec, err := domain.ParseJobSpec(body, "tester")
	if err != nil {
		f.invalid(w, r, err)
		return
	}
	f.mu.Lock()
	old, exists := f.jobs[spec.JobID]
	f.mu.Unlock()
	if exists { // an identical resubmit answers 200 with the job as it is now
		writeJSON(w, http.StatusOK, map[string]any{"job_id": old.JobID, "state": old.State,
			"message": "job already exists with the same spec", "queue_position": 0, "job": old})
		return
	}
	st, msg := domain.StateValidated, "job created"
	if r.URL.Query().Get("queue") == "true" {
		st, msg = domain.StateQueued, "job created and queued"
	}
	j := f.addJob(spec.JobID, st)
	writeJSON(w, http.StatusCreated, map[string]any{"job_id": j.JobID, "state": j.State,
		"message": msg, "queue_position": 3, "job": j})
}

// invalid answers a domain validation error the way the real API does.
func (f *fakeAPI) invalid(w http.ResponseWriter, r *http.Request, err error) {
	var de *domain.Error
	if !errors.As(err, &de) {
		de = domain.Invalid(nil)
	}
	f.fail(w, r, http.StatusBadRequest, de.Kind, de.Message, de.Fields)
}

func (f *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	if j, ok := f.job(w, r); ok {
		writeJSON(w, http.StatusOK, j)
	}
}

// list pages through jobs with a cursor that is the index of the next job.
func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, id := range f.order {
		if s := r.URL.Query().Get("state"); s == "" || string(f.jobs[id].State) == s {
			ids = append(ids, id)
		}
	}
	start, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Query().Get("next"), "c"))
	size := f.pageSize
	if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l < size {
		size = l
	}
	end := min(start+size, len(ids))
	page := map[string]any{"jobs": []domain.Job{}, "count": 0}
	var jobs []domain.Job
	for _, id := range ids[start:end] {
		jobs = append(jobs, *f.jobs[id])
	}
	if jobs != nil {
		page["jobs"], page["count"] = jobs, len(jobs)
	}
	if end < len(ids) {
		page["next"] = "c" + strconv.Itoa(end)
	}
	writeJSON(w, http.StatusOK, page)
}

func (f *fakeAPI) cancel(w http.ResponseWriter, r *http.Request) {
	j, ok := f.job(w, r)
	if !ok {
		return
	}
	switch {
	case j.State.Terminal():
		f.fail(w, r, http.StatusConflict, domain.KindInvalidTransition,
			"job "+j.JobID+" is already "+string(j.State), nil)
	case j.State.Active():
		writeJSON(w, http.StatusAccepted, map[string]any{"job_id": j.JobID, "state": j.State,
			"cancel_requested": true, "message": "a worker is running the job; it has been " +
				"told to stop"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"job_id": j.JobID,
			"state": domain.StateCancelled, "cancel_requested": false, "message": "job cancelled"})
	}
}

func (f *fakeAPI) queue(w http.ResponseWriter, r *http.Request) {
	j, ok := f.job(w, r)
	if !ok {
		return
	}
	if j.State != domain.StateValidated {
		f.fail(w, r, http.StatusConflict, domain.KindInvalidTransition,
			"job "+j.JobID+" cannot go from "+string(j.State)+" to QUEUED", nil)
		return
	}
	q := *j
	q.State, q.WaitingReason = domain.StateQueued, "no alive worker with nbd"
	writeJSON(w, http.StatusOK, q)
}

func (f *fakeAPI) listEvents(w http.ResponseWriter, r *http.Request) {
	j, ok := f.job(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil {
		limit = 100
	}
	limit = min(limit, f.pageSize) // small pages make the test follow cursors
	var since time.Time
	if s := q.Get("since"); s != "" {
		if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			f.fail(w, r, http.StatusBadRequest, domain.KindValidation, "since: bad time", nil)
			return
		}
	}
	evs := []domain.Event{}
	for _, ev := range f.eventsAfter(j.JobID, after) {
		if len(evs) < limit && !ev.Timestamp.Before(since) {
			evs = append(evs, ev)
		}
	}
	next := after
	if len(evs) > 0 {
		next = evs[len(evs)-1].Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"job_id": j.JobID, "events": evs,
		"count": len(evs), "next_after": next})
}

func (f *fakeAPI) eventsAfter(id string, after int64) []domain.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []domain.Event
	for _, ev := range f.events[id] {
		if ev.Seq > after {
			out = append(out, ev)
		}
	}
	return out
}

// stream serves the SSE route: events after Last-Event-ID, then "complete" for a terminal
// job, or a cut in the middle of an event where the script says so.
func (f *fakeAPI) stream(w http.ResponseWriter, r *http.Request) {
	j, ok := f.job(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	conn := len(f.lastIDs)
	f.lastIDs = append(f.lastIDs, r.Header.Get("Last-Event-ID"))
	drop := -1
	if conn < len(f.drops) {
		drop = f.drops[conn]
	}
	f.mu.Unlock()
	after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	w.Header().Set("Content-Type", "text/event-stream")
	fl := w.(http.Flusher)
	fmt.Fprint(w, "retry: 1\n\n: keep-alive\n\n")
	for i, ev := range f.eventsAfter(j.JobID, after) {
		if i == drop {
			fmt.Fprintf(w, "id: %d\nevent: progress\ndata: {\"seq\": %d, ", ev.Seq, ev.Seq)
			fl.Flush()
			panic(http.ErrAbortHandler) // cut the connection mid-event
		}
		data, _ := json.Marshal(ev)
		fmt.Fprintf(w, "id: %d\nevent: progress\ndata: %s\n\n", ev.Seq, data)
		fl.Flush()
		after = ev.Seq
	}
	if !j.State.Terminal() {
		return // the stream ends as a Lambda deadline would end it; the client reconnects
	}
	data, _ := json.Marshal(j.Summary())
	fmt.Fprintf(w, "id: %d\nevent: complete\ndata: %s\n\n", after, data)
}

func (f *fakeAPI) register(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	reg, err := domain.ParseRegistration(body)
	if err != nil {
		f.invalid(w, r, err)
		return
	}
	wk := reg.Worker(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	wk.Status = "alive"
	f.mu.Lock()
	f.workers = append(f.workers, wk)
	f.mu.Unlock()
	writeJSON(w, http.StatusCreated, wk)
}

func (f *fakeAPI) listWorkers(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := append([]domain.Worker{}, f.workers...)
	writeJSON(w, http.StatusOK, map[string]any{"workers": ws, "count": len(ws)})
}

func (f *fakeAPI) queueStatus(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, service.QueueStatus{TotalJobs: 3,
		ByPriority: map[string]int{"high": 1, "normal": 2}, InFlight: 1, DeadLetter: 4,
		QueuedJobs: 3, ByQueue: map[string]int{"high-basic": 1, "normal-device": 2}})
}

// result is one run of h2k against the fake.
type result struct {
	code           int
	stdout, stderr string
}

// run executes h2k with the fake's URL and a pinned clock.
func (f *fakeAPI) run(t *testing.T, env Env, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	env.Stdout, env.Stderr = &out, &errOut
	env.HTTP = f.srv.Client()
	if env.Now == nil {
		env.Now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	}
	extra := env.Getenv
	env.Getenv = func(k string) string {
		if extra != nil && extra(k) != "" {
			return extra(k)
		}
		if k == "H2K_API" {
			return f.srv.URL
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := Run(ctx, args, env)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (f *fakeAPI) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeAPI) lastEventIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.lastIDs...)
}

// progress builds a progress event.
func progress(seq int64, phase domain.Phase, pct float64, msg string,
	details map[string]any) domain.Event {
	return domain.Event{Seq: seq, Phase: phase, ProgressPercent: pct, Message: msg,
		Details: details, Timestamp: time.Date(2026, 1, 2, 3, 4, int(seq), 0, time.UTC)}
}
