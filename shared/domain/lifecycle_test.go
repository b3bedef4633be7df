package domain_test

import (
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func claimed(t *testing.T, extra string) domain.Job {
	t.Helper()
	body := `{"job_id": "j", "operation": "convert", "image": {"path": "/x.vmdk"}` + extra + `}`
	s, err := domain.ParseJobSpec([]byte(body), "")
	if err != nil {
		t.Fatal(err)
	}
	j := domain.NewJob(s, t0)
	if err := j.Enqueue(t0, "test"); err != nil {
		t.Fatal(err)
	}
	if err := j.Claim("w1", "tok", time.Minute, 3, t0); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestTerminalStatesHaveNoWayOut(t *testing.T) {
	t.Parallel()
	for _, from := range []domain.State{domain.StateCompleted, domain.StateFailed,
		domain.StateCancelled} {
		for _, to := range domain.AllStates {
			if domain.CanTransition(from, to) {
				t.Errorf("%s -> %s allowed, want refused", from, to)
			}
		}
	}
	if domain.CanTransition(domain.StateQueued, domain.StateRunning) {
		t.Error("QUEUED -> RUNNING allowed, want refused (must be ASSIGNED first)")
	}
}

func TestStaleTokenCannotReportOrFinish(t *testing.T) {
	t.Parallel()
	j := claimed(t, "")
	p := 10.0
	if _, err := j.Report("other", domain.EventReport{Phase: domain.PhaseConversion,
		ProgressPercent: &p}, time.Minute, t0); domain.ErrorKind(err) != domain.KindLeaseLost {
		t.Fatalf("report with foreign token: got %v, want lease_lost", err)
	}
	_, err := j.Finish("other", domain.Result{Status: domain.StateCompleted}, 0, t0)
	if domain.ErrorKind(err) != domain.KindLeaseLost {
		t.Fatalf("finish with foreign token: got %v, want lease_lost", err)
	}
}

func TestLostLeasesEndInWorkerLost(t *testing.T) {
	t.Parallel()
	j := claimed(t, "")
	for i := 1; i <= 3; i++ {
		later := t0.Add(time.Duration(i) * 2 * time.Minute)
		if _, err := j.LoseLease(later, 3, "test"); err != nil {
			t.Fatal(err)
		}
		if i < 3 {
			if j.State != domain.StateQueued {
				t.Fatalf("after %d lost leases: got %s, want QUEUED", i, j.State)
			}
			if err := j.Claim("w2", "tok2", time.Minute, 3, later); err != nil {
				t.Fatal(err)
			}
		}
	}
	if j.State != domain.StateFailed || j.Result.Error.Code != domain.CodeWorkerLost {
		t.Fatalf("got %s %+v, want FAILED WORKER_LOST", j.State, j.Result)
	}
	if j.Failures != 0 {
		t.Errorf("lost leases used up retries: failures %d, want 0", j.Failures)
	}
}

func TestRetryableFailureRetriesThenFails(t *testing.T) {
	t.Parallel()
	j := claimed(t, `, "execution_policy": {"retry_count": 1}`)
	fail := domain.Result{Status: domain.StateFailed, Error: &domain.JobError{
		Code: domain.CodeExecutionFailed, Message: "boom"}}
	if _, err := j.Finish("tok", fail, time.Minute, t0); err != nil {
		t.Fatal(err)
	}
	if j.State != domain.StateRetrying || j.RetryAt == nil || !j.RetryAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("first failure: got %s retry at %v", j.State, j.RetryAt)
	}
	if err := j.Enqueue(t0.Add(time.Minute), "retry"); err != nil {
		t.Fatal(err)
	}
	if err := j.Claim("w1", "tok3", time.Minute, 3, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Finish("tok3", fail, time.Minute, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if j.State != domain.StateFailed || j.Attempt != 2 {
		t.Fatalf("second failure: got %s attempt %d, want FAILED attempt 2", j.State, j.Attempt)
	}
}

func TestBadInputIsNotRetried(t *testing.T) {
	t.Parallel()
	j := claimed(t, `, "execution_policy": {"retry_count": 3}`)
	fail := domain.Result{Status: domain.StateFailed, Error: &domain.JobError{
		Code: domain.CodeInputNotFound, Message: "no such file"}}
	if _, err := j.Finish("tok", fail, time.Minute, t0); err != nil {
		t.Fatal(err)
	}
	if j.State != domain.StateFailed {
		t.Fatalf("got %s, want FAILED at once", j.State)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	base, ceiling := 30*time.Second, 5*time.Minute
	if got := domain.Backoff(1, base, ceiling, 0); got != base {
		t.Errorf("first: got %s, want %s", got, base)
	}
	if got := domain.Backoff(3, base, ceiling, 0); got != 4*base {
		t.Errorf("third: got %s, want %s", got, 4*base)
	}
	if got := domain.Backoff(20, base, ceiling, 1); got != ceiling*12/10 {
		t.Errorf("capped with jitter: got %s, want %s", got, ceiling*12/10)
	}
}
