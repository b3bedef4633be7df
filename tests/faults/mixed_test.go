package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

const fakeWork = 20 * time.Millisecond

// The three workers of the mixed test: what each can do decides what each may run.
var (
	smallHost = worker{id: "small", caps: qemuOnly, memGB: 8, slots: 2, work: fakeWork}
	nbdHost   = worker{id: "nbd", caps: domain.Capabilities{QemuImg: true, NBD: true},
		memGB: 16, slots: 2, work: fakeWork}
	bigHost = worker{id: "big", caps: qemuOnly, memGB: 64, slots: 2, work: fakeWork}
)

// mixedJob is job i of 100: priorities cycle 1..10, requirements by i%10.
type mixedJob struct {
	id       string
	extra    string
	runnable bool
	bigOnly  bool // needs more memory than small and nbd have
}

func mixedJobs() []mixedJob {
	var out []mixedJob
	for i := range 100 {
		j := mixedJob{id: fmt.Sprintf("mix-%03d", i), runnable: true}
		req := ""
		switch i % 10 {
		case 6, 7:
			req = `"needs_nbd": true`
		case 8:
			req, j.bigOnly = `"min_memory_gb": 32`, true
		case 9:
			req, j.runnable = `"min_memory_gb": 128`, false
			if i%20 == 19 {
				req = `"needs_nbd": true, "min_memory_gb": 32` // nbd host has only 16
			}
		}
		j.extra = fmt.Sprintf(`, "execution_policy": {"priority": %d}, `+
			`"capability_requirements": {%s}`, i%10+1, req)
		out = append(out, j)
	}
	return out
}

// 100 jobs of mixed priorities and requirements over three agents: every runnable job
// completes once, on a worker that has what it needs; the rest stay QUEUED with a reason,
// out of the dead-letter queue.
func TestMixedCapabilitiesAndPriorities(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, stacktest.Options{MaxReceives: 2})
	var l ledger
	jobs := mixedJobs()
	// The jobs only the big host can run go first, while it is the only worker: handed to a
	// worker that lacks the memory, a job is sent back with a delay, possibly again and
	// again (see TestRefusedJobStartsSoonOnIdleCapableWorker), which would make this slow.
	startAgent(t, st, bigHost, &l)
	submitWhere(t, ctx, st.Svc, jobs, func(j mixedJob) bool { return j.bigOnly })
	waitAll(t, ctx, st.Svc, jobs, func(j mixedJob) bool { return j.bigOnly })
	startAgent(t, st, smallHost, &l)
	startAgent(t, st, nbdHost, &l)
	waitFor(t, "all three workers alive", 10*time.Second, func() bool {
		ws, err := st.Svc.Workers(ctx)
		return err == nil && len(ws) == 3
	})
	began := time.Now()
	submitWhere(t, ctx, st.Svc, jobs, func(j mixedJob) bool { return !j.bigOnly })
	waitAll(t, ctx, st.Svc, jobs, func(j mixedJob) bool { return j.runnable })
	t.Logf("%d jobs ran in %s after the second submit", len(l.all()), time.Since(began))
	checkExecutions(t, l.all(), jobs)
	checkStates(t, ctx, st, jobs)
}

func submitWhere(t *testing.T, ctx context.Context, svc *service.Service, jobs []mixedJob,
	keep func(mixedJob) bool) {
	t.Helper()
	for _, j := range jobs {
		if keep(j) {
			submit(t, ctx, svc, spec(t, j.id, j.extra))
		}
	}
}

func waitAll(t *testing.T, ctx context.Context, svc *service.Service, jobs []mixedJob,
	keep func(mixedJob) bool) {
	t.Helper()
	for _, j := range jobs {
		if keep(j) {
			waitJob(t, ctx, svc, j.id, 90*time.Second, terminal)
		}
	}
}

// checkExecutions: each runnable job ran once, none on a worker lacking a requirement.
func checkExecutions(t *testing.T, runs []execution, jobs []mixedJob) {
	t.Helper()
	per := map[string]int{}
	for _, r := range runs {
		per[r.JobID]++
		if r.Missing != "" {
			t.Errorf("%s ran on %s, which lacks %s", r.JobID, r.WorkerID, r.Missing)
		}
	}
	for _, j := range jobs {
		want := 0
		if j.runnable {
			want = 1
		}
		if per[j.id] != want {
			t.Errorf("%s: ran %d times, want %d", j.id, per[j.id], want)
		}
	}
}

// checkStates reconciles the store with the executions and checks the dead-letter queues.
func checkStates(t *testing.T, ctx context.Context, st *stacktest.Stack, jobs []mixedJob) {
	t.Helper()
	runnable := 0
	for _, j := range jobs {
		got, err := st.Svc.Get(ctx, j.id)
		if err != nil {
			t.Fatalf("get %s: %v", j.id, err)
		}
		if j.runnable {
			runnable++
			if got.State != domain.StateCompleted || countTo(got, domain.StateCompleted) != 1 {
				t.Errorf("%s: got %s, want COMPLETED once:%s", j.id, got.State, history(got))
			}
			continue
		}
		if got.State != domain.StateQueued || !strings.HasPrefix(got.WaitingReason,
			"no alive worker with") {
			t.Errorf("%s: got %s waiting %q, want QUEUED naming the missing capability",
				j.id, got.State, got.WaitingReason)
		}
	}
	n, err := countState(ctx, st.Svc, domain.StateCompleted)
	if err != nil || n != runnable || runnable != 90 {
		t.Errorf("COMPLETED jobs: got %d (%v), want %d of 90 runnable", n, err, runnable)
	}
	qs, err := st.Svc.QueueStatus(ctx)
	if err != nil || qs.DeadLetter != 0 {
		t.Errorf("dead letters: got %d (%v), want 0", qs.DeadLetter, err)
	}
}

// countState counts a state's jobs through the API's listing, page by page.
func countState(ctx context.Context, svc *service.Service, s domain.State) (int, error) {
	n, q := 0, domain.JobQuery{State: s, Limit: 1000}
	for range 100 {
		page, err := svc.List(ctx, q)
		if err != nil {
			return n, err
		}
		n += len(page.Jobs)
		if page.Next == "" {
			return n, nil
		}
		q.Cursor = page.Next
	}
	return n, fmt.Errorf("more than 100 pages of %s jobs", s)
}
