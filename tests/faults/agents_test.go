package faults

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
	"github.com/hyper2kvm/controlplane/worker-host/agent"
)

// execution is one run of a job by a fake executor.
type execution struct {
	JobID    string
	WorkerID string
	At       time.Time
	Missing  string // the requirement the worker lacked; empty when it had them all
	Priority int
}

// ledger records every execution across the agents of a test.
type ledger struct {
	mu   sync.Mutex
	runs []execution
}

// add records a run and returns how many times the job has now run (1 for the first).
func (l *ledger) add(e execution) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs = append(l.runs, e)
	n := 0
	for _, r := range l.runs {
		if r.JobID == e.JobID {
			n++
		}
	}
	return n
}

func (l *ledger) all() []execution {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]execution(nil), l.runs...)
}

func (l *ledger) count(id string) int {
	n := 0
	for _, r := range l.all() {
		if r.JobID == id {
			n++
		}
	}
	return n
}

// outcomeFunc decides how the nth run of a job ends; nil means success.
type outcomeFunc func(ctx context.Context, s domain.JobSpec, n int) error

// fakeExec stands in for qemu-img: it records the run, checks the worker really has what the
// job requires, reports progress once, works for a while and ends as outcome says.
type fakeExec struct {
	reg     domain.Registration
	ledger  *ledger
	work    time.Duration
	outcome outcomeFunc
}

var _ agent.Executor = (*fakeExec)(nil)

func (f *fakeExec) Execute(ctx context.Context, s domain.JobSpec,
	report agent.Reporter) (domain.Result, error) {
	miss := f.reg.Capabilities.Missing(s.CapabilityRequirements, f.reg.MemoryGB,
		f.reg.DiskSpaceGB)
	n := f.ledger.add(execution{JobID: s.JobID, WorkerID: f.reg.WorkerID, At: time.Now(),
		Missing: miss, Priority: s.Priority()})
	report(domain.PhaseConversion, 50, "fake conversion", nil)
	if f.outcome != nil {
		if err := f.outcome(ctx, s, n); err != nil {
			return domain.Result{}, err
		}
	}
	if err := pause(ctx, f.work); err != nil {
		return domain.Result{}, err
	}
	return domain.Result{Outputs: domain.Outputs{FixedImage: "/out/" + s.JobID + ".qcow2"}}, nil
}

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// worker describes an in-process agent.
type worker struct {
	id      string
	caps    domain.Capabilities
	memGB   int
	slots   int
	work    time.Duration
	outcome outcomeFunc
}

func (w worker) registration() domain.Registration {
	return domain.Registration{WorkerID: w.id, Capabilities: w.caps, MemoryGB: w.memGB,
		DiskSpaceGB: 500, MaxConcurrentJobs: w.slots, ExecutionMode: "host"}
}

var qemuOnly = domain.Capabilities{QemuImg: true}

// startAgent runs an agent with a fake executor until the test ends.
func startAgent(t *testing.T, st *stacktest.Stack, w worker, l *ledger) {
	t.Helper()
	reg := w.registration()
	ex := &fakeExec{reg: reg, ledger: l, work: w.work, outcome: w.outcome}
	a, err := agent.New(st.Svc, ex, agent.Config{Registration: reg, PollWait: time.Second,
		Heartbeat: time.Second, Grace: 3 * time.Second}, st.Log)
	if err != nil {
		t.Fatalf("agent %s: %v", w.id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent %s: %v", w.id, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("agent %s did not stop within 30 s", w.id)
		}
	})
}
