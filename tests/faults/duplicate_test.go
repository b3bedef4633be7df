package faults

import (
	"context"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/sqsqueue"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// A job's dispatch message delivered twice (and a third time for good measure) to two live
// agents runs the job exactly once.
func TestDuplicateDeliveryRunsOnce(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{Service: service.Config{Lease: 5 * time.Second}})
	q := queueOf(st)
	s := spec(t, "dup-1", "")
	submit(t, ctx, st.Svc, s)
	for range 2 {
		if err := q.Send(ctx, domain.QueueFor(s), domain.Dispatch{JobID: s.JobID}, 0); err != nil {
			t.Fatalf("send duplicate: %v", err)
		}
	}
	var l ledger
	for _, id := range []string{"dup-a", "dup-b"} {
		startAgent(t, st, worker{id: id, caps: qemuOnly, memGB: 8, work: 1500 * time.Millisecond},
			&l)
	}
	job := waitJob(t, ctx, st.Svc, s.JobID, 60*time.Second, terminal)
	waitQueuesEmpty(t, ctx, q)
	if got := l.count(s.JobID); got != 1 {
		t.Errorf("executions of %s: got %d, want 1 (%+v)", s.JobID, got, l.all())
	}
	if job.State != domain.StateCompleted || countTo(job, domain.StateCompleted) != 1 ||
		countTo(job, domain.StateAssigned) != 1 || job.Attempt != 1 {
		t.Errorf("job: got %s attempt %d, want COMPLETED once after one claim:%s",
			job.State, job.Attempt, history(job))
	}
}

// waitQueuesEmpty waits until every main and dead-letter queue of the stack is drained, so
// that every duplicate has been received and settled.
func waitQueuesEmpty(t *testing.T, ctx context.Context, q *sqsqueue.Queue) {
	t.Helper()
	waitFor(t, "queues to drain", 30*time.Second, func() bool {
		st, err := q.Stats(ctx)
		if err != nil {
			t.Fatalf("queue stats: %v", err)
		}
		return sum(st.Visible)+sum(st.InFlight)+sum(st.Delayed)+sum(st.DeadLetter) == 0
	})
}

func sum(m map[domain.QueueKey]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// A redelivery reaching another worker while the holder is alive and renewing is dropped
// (and its message deleted); the holder finishes; the other worker cannot finish the job.
func TestRedeliveryWhileHolderAliveIsDropped(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{Service: service.Config{Lease: 5 * time.Second}})
	q := queueOf(st)
	s := spec(t, "redeliver-1", "")
	submit(t, ctx, st.Svc, s)
	holder := domain.Worker{WorkerID: "holder", Capabilities: qemuOnly, MemoryGB: 8}
	other := domain.Worker{WorkerID: "other", Capabilities: qemuOnly, MemoryGB: 8}
	first := claimFromQueue(t, ctx, st.Svc, q, holder, s)
	if first.Verdict != service.Claimed {
		t.Fatalf("first claim: got verdict %d (%s), want Claimed", first.Verdict, first.Reason)
	}
	report(t, ctx, st.Svc, s.JobID, first.Lease.Token)
	sendDispatch(t, ctx, q, s)
	second := claimFromQueue(t, ctx, st.Svc, q, other, s)
	if second.Verdict != service.Drop {
		t.Fatalf("redelivery: got verdict %d (%s), want Drop", second.Verdict, second.Reason)
	}
	if _, err := st.Svc.Renew(ctx, s.JobID, first.Lease.Token); err != nil {
		t.Fatalf("holder renew: %v", err)
	}
	direct, err := st.Svc.Claim(ctx, other, domain.Dispatch{JobID: s.JobID})
	if err != nil || direct.Verdict != service.Drop {
		t.Fatalf("direct claim: got %d (%s), %v; want Drop", direct.Verdict, direct.Reason, err)
	}
	finishAndCheck(t, ctx, st, s.JobID, first.Lease.Token)
	waitQueuesEmpty(t, ctx, q)
}

func sendDispatch(t *testing.T, ctx context.Context, q *sqsqueue.Queue, s domain.JobSpec) {
	t.Helper()
	if err := q.Send(ctx, domain.QueueFor(s), domain.Dispatch{JobID: s.JobID}, 0); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// claimFromQueue receives the job's message and settles it for w, as a worker's poll does.
func claimFromQueue(t *testing.T, ctx context.Context, svc *service.Service,
	q *sqsqueue.Queue, w domain.Worker, s domain.JobSpec) service.ClaimResult {
	t.Helper()
	var msgs []domain.Delivery
	waitFor(t, "a message for "+s.JobID, 20*time.Second, func() bool {
		var err error
		msgs, err = q.Receive(ctx, domain.QueueFor(s), time.Second, 1)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		return len(msgs) == 1
	})
	res, err := svc.Settle(ctx, w, msgs[0])
	if err != nil {
		t.Fatalf("settle for %s: %v", w.WorkerID, err)
	}
	return res
}

func report(t *testing.T, ctx context.Context, svc *service.Service, id, token string) bool {
	t.Helper()
	pct := 10.0
	_, cancelled, err := svc.ReportEvent(ctx, id, token, domain.EventReport{
		Phase: domain.PhaseConversion, ProgressPercent: &pct, Message: "working"})
	if err != nil {
		t.Fatalf("report %s: %v", id, err)
	}
	return cancelled
}

// finishAndCheck completes the job as its holder, checks that a stranger's token is refused
// afterwards, and that the job completed exactly once.
func finishAndCheck(t *testing.T, ctx context.Context, st *stacktest.Stack, id, token string) {
	t.Helper()
	done := domain.Result{Status: domain.StateCompleted}
	if _, err := st.Svc.Finish(ctx, id, token, done); err != nil {
		t.Fatalf("holder finish: %v", err)
	}
	_, err := st.Svc.Finish(ctx, id, "not-the-token", done)
	if !service.IsLeaseLost(err) {
		t.Errorf("finish with a foreign token: got %v, want lease_lost", err)
	}
	job, err := st.Svc.Get(ctx, id)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	by := ""
	if job.Result != nil {
		by = job.Result.WorkerID
	}
	if job.State != domain.StateCompleted || countTo(job, domain.StateCompleted) != 1 ||
		by != "holder" {
		t.Errorf("job: got %s by %q, want COMPLETED once by holder:%s", job.State, by,
			history(job))
	}
}
