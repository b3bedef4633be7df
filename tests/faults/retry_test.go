package faults

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/sqsqueue"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// scripted fails the first runs of each job as its name says: "flaky2-…" fails twice with
// EXECUTION_FAILED, "broken-…" always does, "missing-…" fails with INPUT_NOT_FOUND.
func scripted(_ context.Context, s domain.JobSpec, n int) error {
	fail := func(code domain.ResultCode) error {
		return &domain.JobError{Phase: domain.PhaseConversion, Code: code,
			Message: fmt.Sprintf("scripted failure %d", n)}
	}
	switch {
	case hasPrefix(s.JobID, "flaky2-") && n <= 2, hasPrefix(s.JobID, "broken-"):
		return fail(domain.CodeExecutionFailed)
	case hasPrefix(s.JobID, "missing-"):
		return fail(domain.CodeInputNotFound)
	}
	return nil
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// Retries through a real agent: failures of the work are retried up to retry_count with a
// backoff, then the job fails with the last error; bad input is never retried.
func TestRetries(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{Service: service.Config{RetryBase: time.Second}})
	var l ledger
	startAgent(t, st, worker{id: "retrier", caps: qemuOnly, memGB: 8, slots: 3,
		work: 50 * time.Millisecond, outcome: scripted}, &l)
	retry := func(n int) string { return fmt.Sprintf(`, "execution_policy": {"retry_count": %d}`, n) }
	jobs := map[string]string{"flaky2-a": retry(2), "broken-a": retry(1), "missing-a": retry(3)}
	for id, extra := range jobs {
		submit(t, ctx, st.Svc, spec(t, id, extra))
	}
	got := map[string]domain.Job{}
	for id := range jobs {
		got[id] = waitJob(t, ctx, st.Svc, id, 60*time.Second, terminal)
	}
	checkRetried(t, got["flaky2-a"], domain.StateCompleted, 2, l.count("flaky2-a"))
	checkRetried(t, got["broken-a"], domain.StateFailed, 1, l.count("broken-a"))
	checkRetried(t, got["missing-a"], domain.StateFailed, 0, l.count("missing-a"))
	checkLastError(t, got["broken-a"], domain.CodeExecutionFailed, "scripted failure 2")
	checkLastError(t, got["missing-a"], domain.CodeInputNotFound, "scripted failure 1")
}

// checkRetried checks the end state, the number of RETRYING moves, the attempts and runs.
func checkRetried(t *testing.T, j domain.Job, want domain.State, retries, runs int) {
	t.Helper()
	if j.State != want || countTo(j, domain.StateRetrying) != retries ||
		countTo(j, want) != 1 {
		t.Errorf("%s: got %s after %d retries, want %s after %d:%s", j.JobID, j.State,
			countTo(j, domain.StateRetrying), want, retries, history(j))
	}
	if j.Attempt != retries+1 || runs != retries+1 {
		t.Errorf("%s: got attempt %d and %d executions, want %d of each", j.JobID, j.Attempt,
			runs, retries+1)
	}
	if j.Result == nil || j.Result.RetryAttempt != retries {
		t.Errorf("%s: result %+v, want retry_attempt %d", j.JobID, j.Result, retries)
	}
}

func checkLastError(t *testing.T, j domain.Job, code domain.ResultCode, msg string) {
	t.Helper()
	if j.Result == nil || j.Result.Error == nil {
		t.Fatalf("%s: result %+v has no error", j.JobID, j.Result)
	}
	if e := j.Result.Error; e.Code != code || e.Message != msg {
		t.Errorf("%s: error %s %q, want %s %q", j.JobID, e.Code, e.Message, code, msg)
	}
}

// A message received without being settled more often than the queue allows lands in the
// dead-letter queue; draining it fails the job with DEAD_LETTERED, except a job that a live
// worker holds.
func TestDeadLetterFailsJob(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{MaxReceives: 1})
	q := queueOf(st)
	orphan, held := spec(t, "dead-1", ""), spec(t, "dead-held", "")
	submit(t, ctx, st.Svc, orphan)
	submit(t, ctx, st.Svc, held)
	w := domain.Worker{WorkerID: "holder", Capabilities: qemuOnly, MemoryGB: 8}
	claimDirect(t, ctx, st.Svc, w, held.JobID)
	deadLetter(t, ctx, q, orphan.JobID, held.JobID)
	n, err := st.Svc.DrainDeadLetters(ctx)
	if err != nil || n != 2 {
		t.Fatalf("drain: got %d, %v; want 2 messages handled", n, err)
	}
	j, _ := st.Svc.Get(ctx, orphan.JobID)
	if j.State != domain.StateFailed || j.Result == nil || j.Result.Error == nil ||
		j.Result.Error.Code != domain.CodeDeadLettered {
		t.Errorf("%s: got %s %+v, want FAILED with DEAD_LETTERED:%s", j.JobID, j.State,
			j.Result, history(j))
	}
	h, _ := st.Svc.Get(ctx, held.JobID)
	if h.State != domain.StateAssigned {
		t.Errorf("%s held by a live worker: got %s, want ASSIGNED:%s", h.JobID, h.State,
			history(h))
	}
	waitQueuesEmpty(t, ctx, q)
}

// deadLetter receives each job's message twice without settling it, which with a
// maxReceiveCount of 1 moves it to the dead-letter queue.
func deadLetter(t *testing.T, ctx context.Context, q *sqsqueue.Queue, ids ...string) {
	t.Helper()
	key := domain.QueueKey{Band: domain.BandNormal, Class: domain.ClassBasic}
	seen := map[string]bool{}
	waitFor(t, "messages to reach the dead-letter queue", 30*time.Second, func() bool {
		msgs, err := q.Receive(ctx, key, 0, 10)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range msgs {
			seen[m.Dispatch.JobID] = true
			if err := q.Extend(ctx, m, 0); err != nil {
				t.Fatalf("release message: %v", err)
			}
		}
		st, err := q.Stats(ctx)
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		return st.DeadLetter[key] == len(ids)
	})
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("message of %s was never received before it was dead-lettered", id)
		}
	}
}
