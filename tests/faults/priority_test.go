package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// With the only worker busy, a priority-1 job submitted after three priority-10 jobs is the
// next one to start.
func TestUrgentJobOvertakesEarlierLowPriority(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{})
	gate := make(chan struct{})
	hold := func(ctx context.Context, s domain.JobSpec, _ int) error {
		if s.JobID != "blocker" {
			return nil
		}
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	// Queued before the agent starts, so that its very first poll takes the blocker.
	submit(t, ctx, st.Svc, spec(t, "blocker", ""))
	var l ledger
	startAgent(t, st, worker{id: "only", caps: qemuOnly, memGB: 8, slots: 1,
		work: fakeWork, outcome: hold}, &l)
	waitFor(t, "the blocker to run", 30*time.Second, func() bool {
		return l.count("blocker") == 1
	})
	ids := []string{"low-1", "low-2", "low-3", "urgent"}
	for _, id := range ids {
		prio := 10
		if id == "urgent" {
			prio = 1
		}
		extra := fmt.Sprintf(`, "execution_policy": {"priority": %d}`, prio)
		submit(t, ctx, st.Svc, spec(t, id, extra))
	}
	close(gate)
	for _, id := range ids {
		waitJob(t, ctx, st.Svc, id, 60*time.Second, terminal)
	}
	var order []string
	for _, r := range l.all() {
		order = append(order, r.JobID)
	}
	if len(order) != 5 || order[1] != "urgent" {
		t.Errorf("start order: got %v, want urgent right after blocker", order)
	}
}

// A job that the only alive worker lacks the memory for should start within seconds once a
// worker with enough memory registers. The refusing worker hands the message back with a
// delay (service.decideClaim); nothing dispatches it again when a capable worker registers,
// and the refusing worker, whose polls line up with that delay, often takes it back again.
func TestRefusedJobStartsSoonOnIdleCapableWorker(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{})
	q := queueOf(st)
	s := spec(t, "picky", `, "capability_requirements": {"min_memory_gb": 32}`)
	submit(t, ctx, st.Svc, s)
	var l ledger
	startAgent(t, st, smallHost, &l)
	// The small worker polls every second; a delayed message shows it has refused the job.
	// A hand-back without delay leaves no trace, so five seconds are enough either way.
	for began := time.Now(); time.Since(began) < 5*time.Second; {
		if qs, err := q.Stats(ctx); err == nil && qs.Delayed[domain.QueueFor(s)] == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if j, _ := st.Svc.Get(ctx, s.JobID); !strings.Contains(j.WaitingReason, "32 GB") {
		t.Errorf("waiting reason with only the small worker: got %q", j.WaitingReason)
	}
	startAgent(t, st, bigHost, &l)
	joined := time.Now()
	for l.count(s.JobID) == 0 && time.Since(joined) < 40*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(joined).Round(100 * time.Millisecond)
	if l.count(s.JobID) == 0 {
		t.Fatalf("start latency: not started %s after a capable idle worker joined, want "+
			"<= 10 s (the message was handed back by the worker lacking memory)", took)
	}
	t.Logf("refused job started %s after a capable idle worker joined", took)
	if took > 10*time.Second {
		t.Errorf("start latency: got %s, want <= 10 s (the message was handed back by the "+
			"worker lacking memory)", took)
	}
}
