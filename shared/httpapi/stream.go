package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// StreamOptions tune the SSE stream. Polling adapts: fast while events flow or a worker
// holds the job, slowing down to SlowPoll while nothing happens, so idle streams cost little.
type StreamOptions struct {
	FastPoll, SlowPoll time.Duration
	KeepAlive          time.Duration
	Retry              time.Duration
	// DeadlineMargin ends the stream this long before the request's deadline (the Lambda
	// timeout), so the client reconnects with Last-Event-ID instead of being cut off.
	DeadlineMargin time.Duration
	// MaxDuration ends any stream after this long; 0 means no limit.
	MaxDuration time.Duration
}

func (o StreamOptions) withDefaults() StreamOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.FastPoll, 100*time.Millisecond)
	def(&o.SlowPoll, 2*time.Second)
	def(&o.KeepAlive, 15*time.Second)
	def(&o.Retry, 2*time.Second)
	def(&o.DeadlineMargin, 5*time.Second)
	return o
}

// lastEventID reads where a reconnecting client left off: the Last-Event-ID header that
// EventSource sends, or the last_event_id query parameter for clients that cannot.
func lastEventID(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	field := "Last-Event-ID"
	if v == "" {
		v, field = r.URL.Query().Get("last_event_id"), "last_event_id"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, domain.Invalid([]domain.FieldError{{Field: field,
			Message: "must be the id (seq) of an event this stream sent"}})
	}
	return n, nil
}

func (a *API) streamEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "job_id")
	if err != nil {
		return err
	}
	after, err := lastEventID(r)
	if err != nil {
		return err
	}
	if _, err := a.svc.Get(r.Context(), id); err != nil {
		return err
	}
	f, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("stream: response writer cannot flush")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store, no-transform")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Content-Encoding", "identity")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, f: f, last: time.Now()}
	s.printf("retry: %d\n\n", a.opts.Stream.Retry.Milliseconds())
	a.pump(r.Context(), s, id, after)
	return nil
}

// sse writes frames and remembers the first write error (the client went away).
type sse struct {
	w    http.ResponseWriter
	f    http.Flusher
	err  error
	last time.Time
}

func (s *sse) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
		s.f.Flush()
		s.last = time.Now()
	}
}

func (s *sse) event(id int64, name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{}`)
	}
	s.printf("id: %d\nevent: %s\ndata: %s\n\n", id, name, b)
}

// pump sends events after the cursor until the job ends, the client leaves or time is up.
func (a *API) pump(ctx context.Context, s *sse, id string, after int64) {
	ctx, cancel := a.streamContext(ctx)
	defer cancel()
	o := a.opts.Stream
	interval, lastCheck := o.FastPoll, time.Time{}
	for s.err == nil {
		evs, err := a.svc.EventsOfKnownJob(ctx, domain.EventQuery{JobID: id, After: after,
			Limit: 100})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.event(after, "error", map[string]string{"message": "events are unavailable; reconnect"})
			return
		}
		ending := false
		for _, ev := range evs {
			s.event(ev.Seq, "progress", ev)
			after = ev.Seq
			ending = ending || isEndPhase(ev.Phase)
		}
		if len(evs) == 100 {
			continue
		}
		if ending || time.Since(lastCheck) >= time.Second {
			lastCheck = time.Now()
			done, active := a.checkEnd(ctx, s, id, after)
			if done {
				return
			}
			interval = nextInterval(interval, len(evs) > 0 || active, o)
		}
		if time.Since(s.last) >= o.KeepAlive {
			s.printf(": keep-alive\n\n")
		}
		sleepCtx(ctx, interval)
	}
}

func nextInterval(cur time.Duration, busy bool, o StreamOptions) time.Duration {
	if busy {
		return o.FastPoll
	}
	return min(cur*2, o.SlowPoll)
}

func isEndPhase(p domain.Phase) bool {
	return p == domain.PhaseCompleted || p == domain.PhaseFailed || p == domain.PhaseCancelled
}

// checkEnd sends "complete" once the job is terminal and every event was sent.
func (a *API) checkEnd(ctx context.Context, s *sse, id string, after int64) (done, active bool) {
	job, err := a.svc.Get(ctx, id)
	if err != nil {
		if ctx.Err() == nil {
			s.event(after, "error", map[string]string{"message": "job is unavailable; reconnect"})
		}
		return true, false
	}
	if !job.State.Terminal() {
		return false, job.State.Active()
	}
	if job.LatestEvent != nil && job.LatestEvent.Seq > after {
		return false, true // the closing event is not sent yet
	}
	s.event(after, "complete", job.Summary())
	return true, false
}

func (a *API) streamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	o := a.opts.Stream
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-o.DeadlineMargin))
	}
	if o.MaxDuration > 0 {
		return context.WithTimeout(ctx, o.MaxDuration)
	}
	return context.WithCancel(ctx)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
