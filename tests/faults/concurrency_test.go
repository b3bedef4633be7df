package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

const racers = 50

// answer is one HTTP reply: its status and, for errors, the envelope's type.
type answer struct {
	status int
	kind   domain.Kind
	state  domain.State
}

// together runs fn racers times at once, released by one barrier, and collects the answers.
func together[T any](fn func(i int) T) []T {
	out := make([]T, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			out[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return out
}

// serveAPI serves every route over the stack on 127.0.0.1.
func serveAPI(t *testing.T, st *stacktest.Stack) *client {
	t.Helper()
	srv := httptest.NewServer(httpapi.New(st.Svc, st.Log, httpapi.Options{}).Handler())
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL)
}

// cancelAll sends racers concurrent DELETE /jobs/{id} and tallies the answers.
func cancelAll(c *client, id string) (map[string]int, []answer) {
	got := together(func(int) answer {
		r := c.do(http.MethodDelete, "/jobs/"+id, "")
		a := answer{status: r.status}
		var body struct {
			State domain.State `json:"state"`
			Error struct {
				Type domain.Kind `json:"type"`
			} `json:"error"`
		}
		if r.err == nil {
			_ = json.Unmarshal(r.body, &body)
		}
		a.kind, a.state = body.Error.Type, body.State
		return a
	})
	tally := map[string]int{}
	for _, a := range got {
		tally[fmt.Sprintf("%d %s", a.status, a.kind)]++
	}
	return tally, got
}

// Fifty concurrent cancels of a running job: every answer is 202 or an expected conflict,
// the cancel flag is set without any state change, and the worker's stop ends the job
// CANCELLED exactly once.
func TestConcurrentCancelsOfRunningJob(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{})
	c := serveAPI(t, st)
	w := domain.Worker{WorkerID: "runner", Capabilities: qemuOnly, MemoryGB: 8}
	for rep := range 3 {
		id := fmt.Sprintf("cancel-running-%d", rep)
		submit(t, ctx, st.Svc, spec(t, id, ""))
		claim := claimDirect(t, ctx, st.Svc, w, id)
		report(t, ctx, st.Svc, id, claim.Lease.Token)
		before, _ := st.Svc.Get(ctx, id)
		tally, got := cancelAll(c, id)
		t.Logf("rep %d: answers %v", rep, tally)
		checkRunningCancels(t, got)
		after, _ := st.Svc.Get(ctx, id)
		if !after.CancelRequested || len(after.StateHistory) != len(before.StateHistory) {
			t.Errorf("after cancels: cancel_requested %v, history %d entries (was %d)",
				after.CancelRequested, len(after.StateHistory), len(before.StateHistory))
		}
		stopCancelled(t, ctx, st.Svc, id, claim.Lease.Token)
	}
}

func checkRunningCancels(t *testing.T, got []answer) {
	t.Helper()
	accepted := 0
	for i, a := range got {
		switch {
		case a.status == http.StatusAccepted:
			accepted++
		case a.status == http.StatusConflict && a.kind == domain.KindConflict:
		default:
			t.Errorf("cancel %d: got %d %q, want 202 or 409 conflict", i, a.status, a.kind)
		}
	}
	if accepted == 0 {
		t.Errorf("no cancel was accepted")
	}
}

// stopCancelled plays the worker that is told to stop: its report sees the flag, its
// failure result turns into CANCELLED, once.
func stopCancelled(t *testing.T, ctx context.Context, svc *service.Service, id, token string) {
	t.Helper()
	if !report(t, ctx, svc, id, token) {
		t.Fatalf("report after cancel: cancel flag not passed to the worker")
	}
	r := domain.Result{Status: domain.StateFailed, Error: &domain.JobError{
		Phase: domain.PhaseCancelled, Code: domain.CodeCancelled, Message: "stopped"}}
	job, err := svc.Finish(ctx, id, token, r)
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	if job.State != domain.StateCancelled || countTo(job, domain.StateCancelled) != 1 {
		t.Errorf("job %s: got %s, want CANCELLED exactly once:%s", id, job.State, history(job))
	}
	checkOneCancelEvent(t, ctx, svc, id)
}

func checkOneCancelEvent(t *testing.T, ctx context.Context, svc *service.Service, id string) {
	t.Helper()
	evs, err := svc.Events(ctx, domain.EventQuery{JobID: id, Limit: 1000})
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Phase == domain.PhaseCancelled {
			n++
		}
	}
	if n != 1 {
		t.Errorf("job %s: got %d cancelled events, want 1", id, n)
	}
}

// claimDirect claims a job for w without the queue, as a redelivered message would.
func claimDirect(t *testing.T, ctx context.Context, svc *service.Service, w domain.Worker,
	id string) service.ClaimResult {
	t.Helper()
	res, err := svc.Claim(ctx, w, domain.Dispatch{JobID: id})
	if err != nil || res.Verdict != service.Claimed {
		t.Fatalf("claim %s: got verdict %d (%s), %v; want Claimed", id, res.Verdict,
			res.Reason, err)
	}
	return res
}

// Fifty concurrent cancels of a queued job: exactly one cancels it (200), the rest are told
// it is already over or to retry; the history and the events record one cancel.
func TestConcurrentCancelsOfQueuedJob(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{})
	c := serveAPI(t, st)
	for rep := range 3 {
		id := fmt.Sprintf("cancel-queued-%d", rep)
		submit(t, ctx, st.Svc, spec(t, id, ""))
		tally, got := cancelAll(c, id)
		t.Logf("rep %d: answers %v", rep, tally)
		ok := 0
		for i, a := range got {
			switch {
			case a.status == http.StatusOK && a.state == domain.StateCancelled:
				ok++
			case a.status == http.StatusConflict && (a.kind == domain.KindInvalidTransition ||
				a.kind == domain.KindConflict):
			default:
				t.Errorf("cancel %d: got %d %q %s, want 200 CANCELLED or 409", i, a.status,
					a.kind, a.state)
			}
		}
		job, _ := st.Svc.Get(ctx, id)
		if ok != 1 || countTo(job, domain.StateCancelled) != 1 {
			t.Errorf("rep %d: got %d successful cancels and %d CANCELLED entries, want 1 and 1:%s",
				rep, ok, countTo(job, domain.StateCancelled), history(job))
		}
		checkOneCancelEvent(t, ctx, st.Svc, id)
	}
}

// Fifty workers claiming the same job at once: exactly one wins, the rest are told to drop
// their copy, and the job records one claim.
func TestConcurrentClaimsHaveOneWinner(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{})
	for rep := range 3 {
		id := fmt.Sprintf("claim-race-%d", rep)
		submit(t, ctx, st.Svc, spec(t, id, ""))
		got := together(func(i int) claimOutcome {
			w := domain.Worker{WorkerID: fmt.Sprintf("racer-%d", i), Capabilities: qemuOnly,
				MemoryGB: 8}
			res, err := st.Svc.Claim(ctx, w, domain.Dispatch{JobID: id})
			return claimOutcome{worker: w.WorkerID, res: res, err: err}
		})
		winner := checkClaims(t, got)
		job, _ := st.Svc.Get(ctx, id)
		if job.WorkerID != winner || job.Attempt != 1 || countTo(job, domain.StateAssigned) != 1 {
			t.Errorf("rep %d: job held by %q attempt %d, want %q attempt 1, one claim:%s",
				rep, job.WorkerID, job.Attempt, winner, history(job))
		}
	}
}

type claimOutcome struct {
	worker string
	res    service.ClaimResult
	err    error
}

func checkClaims(t *testing.T, got []claimOutcome) string {
	t.Helper()
	var winners []string
	drops, conflicts := 0, 0
	for _, g := range got {
		switch {
		case g.err != nil && domain.ErrorKind(g.err) == domain.KindConflict:
			conflicts++
		case g.err != nil:
			t.Errorf("claim by %s: unexpected error %v", g.worker, g.err)
		case g.res.Verdict == service.Claimed:
			winners = append(winners, g.worker)
		case g.res.Verdict == service.Drop:
			drops++
		default:
			t.Errorf("claim by %s: got verdict %d (%s)", g.worker, g.res.Verdict, g.res.Reason)
		}
	}
	t.Logf("claims: %d won, %d dropped, %d conflicts", len(winners), drops, conflicts)
	if len(winners) != 1 {
		t.Fatalf("winners: got %v, want exactly one", winners)
	}
	return winners[0]
}
