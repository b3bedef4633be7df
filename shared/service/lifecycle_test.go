package service_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

func setup(t *testing.T, cfg service.Config) (*stacktest.Stack, context.Context) {
	t.Helper()
	st := stacktest.New(t, stacktest.Options{Service: cfg})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return st, ctx
}

func spec(t *testing.T, id string, extra string) domain.JobSpec {
	t.Helper()
	body := fmt.Sprintf(`{"job_id": %q, "operation": "convert", "image": {"path": "/data/vm.vmdk",
		"format": "vmdk"}, "parameters": {"output_format": "qcow2"}%s}`, id, extra)
	s, err := domain.ParseJobSpec([]byte(body), "tester")
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	return s
}

var basicWorker = domain.Worker{WorkerID: "w1", Capabilities: domain.Capabilities{QemuImg: true},
	MemoryGB: 8, DiskSpaceGB: 100}

func register(t *testing.T, ctx context.Context, svc *service.Service, w domain.Worker) {
	t.Helper()
	reg := domain.Registration{WorkerID: w.WorkerID, Capabilities: w.Capabilities,
		MemoryGB: w.MemoryGB, DiskSpaceGB: w.DiskSpaceGB}
	if _, err := svc.Register(ctx, reg); err != nil {
		t.Fatalf("register: %v", err)
	}
}

// poll claims the next job for w, failing the test when none comes.
func poll(t *testing.T, ctx context.Context, svc *service.Service,
	w domain.Worker) service.ClaimResult {
	t.Helper()
	for i := 0; i < 20; i++ {
		got, err := svc.Poll(ctx, w, i, time.Second)
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if got != nil {
			return *got
		}
	}
	t.Fatal("no job was handed out")
	return service.ClaimResult{}
}

func TestJobRunsFromSubmitToCompleted(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, service.Config{})
	sub, err := st.Svc.Submit(ctx, spec(t, "job-1", ""), true)
	if err != nil || !sub.Created || sub.Job.State != domain.StateQueued {
		t.Fatalf("submit: %+v, %v", sub, err)
	}
	register(t, ctx, st.Svc, basicWorker)
	c := poll(t, ctx, st.Svc, basicWorker)
	if c.Job.JobID != "job-1" || c.Job.State != domain.StateAssigned || c.Lease.Attempt != 1 {
		t.Fatalf("claim: got %s %s attempt %d", c.Job.JobID, c.Job.State, c.Lease.Attempt)
	}
	for _, pct := range []float64{10, 5, 50} {
		p := pct
		if _, _, err := st.Svc.ReportEvent(ctx, "job-1", c.Lease.Token, domain.EventReport{
			Phase: domain.PhaseConversion, ProgressPercent: &p}); err != nil {
			t.Fatalf("report %v: %v", pct, err)
		}
	}
	job, err := st.Svc.Finish(ctx, "job-1", c.Lease.Token, domain.Result{Status: domain.StateCompleted})
	if err != nil || job.State != domain.StateCompleted {
		t.Fatalf("finish: %s, %v", job.State, err)
	}
	evs, err := st.Svc.Events(ctx, domain.EventQuery{JobID: "job-1", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []float64
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Errorf("event %d has seq %d", i, ev.Seq)
		}
		got = append(got, ev.ProgressPercent)
	}
	want := []float64{10, 10, 50, 100}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("percentages: got %v, want %v (never backwards)", got, want)
	}
	states := []domain.State{}
	for _, h := range job.StateHistory {
		states = append(states, h.ToState)
	}
	wantStates := "[VALIDATED QUEUED ASSIGNED RUNNING PROGRESSING COMPLETED]"
	if fmt.Sprint(states) != wantStates {
		t.Errorf("history: got %v, want %s", states, wantStates)
	}
}

func TestResubmitIsIdempotentAndDifferentSpecConflicts(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, service.Config{})
	if _, err := st.Svc.Submit(ctx, spec(t, "same", ""), true); err != nil {
		t.Fatal(err)
	}
	again, err := st.Svc.Submit(ctx, spec(t, "same", ""), true)
	if err != nil || again.Created {
		t.Fatalf("identical resubmit: created=%v err=%v", again.Created, err)
	}
	_, err = st.Svc.Submit(ctx, spec(t, "same", `, "execution_policy": {"priority": 1}`), true)
	if domain.ErrorKind(err) != domain.KindConflict {
		t.Fatalf("different spec: got %v, want conflict", err)
	}
	qs, err := st.Svc.QueueStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if qs.TotalJobs != 1 {
		t.Errorf("messages: got %d, want 1 (no second message for a resubmit)", qs.TotalJobs)
	}
}

func TestConcurrentClaimsHaveExactlyOneWinner(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, service.Config{})
	if _, err := st.Svc.Submit(ctx, spec(t, "race", ""), true); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := 0; i < 50; i++ {
		w := basicWorker
		w.WorkerID = fmt.Sprintf("w%d", i)
		wg.Go(func() {
			res, err := st.Svc.Claim(ctx, w, domain.Dispatch{JobID: "race", Attempt: 0})
			if err != nil {
				t.Errorf("claim: %v", err)
				return
			}
			if res.Verdict == service.Claimed {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("winners: got %d, want 1", winners)
	}
}

func TestCancelQueuedIsImmediateAndRunningIsRequested(t *testing.T) {
	t.Parallel()
	st, ctx := setup(t, service.Config{})
	for _, id := range []string{"queued", "running"} {
		if _, err := st.Svc.Submit(ctx, spec(t, id, ""), true); err != nil {
			t.Fatal(err)
		}
	}
	job, now, err := st.Svc.Cancel(ctx, "queued")
	if err != nil || !now || job.State != domain.StateCancelled {
		t.Fatalf("cancel queued: %s now=%v %v", job.State, now, err)
	}
	res, err := st.Svc.Claim(ctx, basicWorker, domain.Dispatch{JobID: "queued"})
	if err != nil || res.Verdict != service.Drop {
		t.Fatalf("claim of cancelled job: %v %v, want Drop", res.Verdict, err)
	}
	res, err = st.Svc.Claim(ctx, basicWorker, domain.Dispatch{JobID: "running"})
	if err != nil || res.Verdict != service.Claimed {
		t.Fatalf("claim: %v %v", res.Verdict, err)
	}
	job, now, err = st.Svc.Cancel(ctx, "running")
	if err != nil || now || !job.CancelRequested {
		t.Fatalf("cancel running: now=%v requested=%v %v", now, job.CancelRequested, err)
	}
	fail := domain.Result{Status: domain.StateFailed, Error: &domain.JobError{
		Code: domain.CodeCancelled, Message: "stopped"}}
	job, err = st.Svc.Finish(ctx, "running", res.Lease.Token, fail)
	if err != nil || job.State != domain.StateCancelled {
		t.Fatalf("finish after cancel: %s %v", job.State, err)
	}
	if _, _, err = st.Svc.Cancel(ctx, "running"); domain.ErrorKind(err) != domain.KindInvalidTransition {
		t.Fatalf("cancel terminal: got %v, want invalid_transition", err)
	}
}
