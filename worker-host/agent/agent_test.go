package agent_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/localaws"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
	"github.com/hyper2kvm/controlplane/worker-host/agent"
)

func TestMain(m *testing.M) { os.Exit(localaws.RunTests(m)) }

// execFunc adapts a function to the Executor seam.
type execFunc func(context.Context, domain.JobSpec, agent.Reporter) (domain.Result, error)

func (f execFunc) Execute(ctx context.Context, s domain.JobSpec,
	r agent.Reporter) (domain.Result, error) {
	return f(ctx, s, r)
}

// blocking reports once, then waits for its context to end, as a long conversion would.
var blocking = execFunc(func(ctx context.Context, _ domain.JobSpec,
	report agent.Reporter) (domain.Result, error) {
	report(domain.PhaseConversion, 10, "converting", nil)
	<-ctx.Done()
	return domain.Result{}, ctx.Err()
})

func setup(t *testing.T, exec agent.Executor, timeout time.Duration,
	extra string) (*stacktest.Stack, context.CancelFunc, chan error) {
	t.Helper()
	st := stacktest.New(t, stacktest.Options{})
	body := `{"job_id": "job", "operation": "convert", "image": {"path": "/d/x.vmdk"}` + extra + `}`
	spec, err := domain.ParseJobSpec([]byte(body), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Svc.Submit(context.Background(), spec, true); err != nil {
		t.Fatal(err)
	}
	reg := domain.Registration{WorkerID: "w1", Capabilities: domain.Capabilities{QemuImg: true}}
	a, err := agent.New(st.Svc, exec, agent.Config{Registration: reg, PollWait: time.Second,
		Heartbeat: 200 * time.Millisecond, Grace: 300 * time.Millisecond,
		JobTimeout: func(domain.JobSpec) time.Duration { return timeout }}, st.Log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return st, cancel, done
}

func waitState(t *testing.T, svc *service.Service, want domain.State) domain.Job {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := svc.Get(context.Background(), "job")
		if err == nil && j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job state: got %s (%v), want %s", j.State, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTimeoutStopsTheWorkAndFailsWithTIMEOUT(t *testing.T) {
	t.Parallel()
	st, _, _ := setup(t, blocking, 500*time.Millisecond, "")
	j := waitState(t, st.Svc, domain.StateFailed)
	if j.Result.Error == nil || j.Result.Error.Code != domain.CodeTimeout {
		t.Fatalf("result: got %+v, want TIMEOUT", j.Result)
	}
}

func TestTimeoutIsRetriedWhenRetriesAreLeft(t *testing.T) {
	t.Parallel()
	st, _, _ := setup(t, blocking, 300*time.Millisecond,
		`, "execution_policy": {"retry_count": 1}`)
	j := waitState(t, st.Svc, domain.StateRetrying)
	if j.LastError == nil || j.LastError.Code != domain.CodeTimeout {
		t.Fatalf("last error: got %+v, want TIMEOUT", j.LastError)
	}
}

func TestCancelReachesTheRunningJob(t *testing.T) {
	t.Parallel()
	st, _, _ := setup(t, blocking, time.Minute, "")
	waitState(t, st.Svc, domain.StateRunning)
	start := time.Now()
	if _, _, err := st.Svc.Cancel(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	waitState(t, st.Svc, domain.StateCancelled)
	t.Logf("cancelled %s after the request", time.Since(start).Round(time.Millisecond))
}

func TestPanicInTheWorkFailsTheJobAndTheWorkerGoesOn(t *testing.T) {
	t.Parallel()
	boom := execFunc(func(context.Context, domain.JobSpec, agent.Reporter) (domain.Result,
		error) {
		panic("executor bug")
	})
	st, _, _ := setup(t, boom, time.Minute, "")
	j := waitState(t, st.Svc, domain.StateFailed)
	if j.Result.Error.Code != domain.CodeExecutionFailed {
		t.Fatalf("result: got %+v, want EXECUTION_FAILED", j.Result.Error)
	}
}

func TestShutdownGivesTheJobBack(t *testing.T) {
	t.Parallel()
	st, stop, done := setup(t, blocking, time.Minute, "")
	waitState(t, st.Svc, domain.StateRunning)
	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	done <- nil // for the cleanup
	j := waitState(t, st.Svc, domain.StateQueued)
	if j.Failures != 0 {
		t.Errorf("failures: got %d, want 0 (a shutdown is not a failure of the work)", j.Failures)
	}
	if fmt.Sprint(j.StateHistory[len(j.StateHistory)-1].ToState) != "QUEUED" {
		t.Errorf("history: %+v", j.StateHistory)
	}
}
