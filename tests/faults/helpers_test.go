package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/sqsqueue"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// setup builds a fresh stack (tables and queues of its own) and a context for the test.
func setup(t *testing.T, o stacktest.Options) (*stacktest.Stack, context.Context) {
	t.Helper()
	st := stacktest.New(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return st, ctx
}

// queueOf is the stack's queue adapter, for sending and receiving messages directly.
func queueOf(st *stacktest.Stack) *sqsqueue.Queue {
	return sqsqueue.New(st.SQS, st.Config.Queues, st.Config.DeadLetters)
}

// specJSON is a convert job body; extra is spliced in as further top-level fields.
func specJSON(id, image, extra string) string {
	return fmt.Sprintf(`{"job_id": %q, "operation": "convert", "image": {"path": %q, `+
		`"format": "vmdk"}, "parameters": {"output_format": "qcow2"}%s}`, id, image, extra)
}

// spec parses a convert job spec the way the API does.
func spec(t *testing.T, id, extra string) domain.JobSpec {
	t.Helper()
	s, err := domain.ParseJobSpec([]byte(specJSON(id, "/data/vm.vmdk", extra)), "tester")
	if err != nil {
		t.Fatalf("spec %s: %v", id, err)
	}
	return s
}

// submit stores and queues a job.
func submit(t *testing.T, ctx context.Context, svc *service.Service, s domain.JobSpec) {
	t.Helper()
	sub, err := svc.Submit(ctx, s, true)
	// A worker may claim the job before Submit returns, so any state from QUEUED on is fine.
	if err != nil || !sub.Created || sub.Job.State == domain.StateValidated {
		t.Fatalf("submit %s: got %s, %v; want a new queued job", s.JobID, sub.Job.State, err)
	}
}

// waitFor polls cond until it holds, failing the test with what after timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitJob polls a job through the service until done holds and returns it.
func waitJob(t *testing.T, ctx context.Context, svc *service.Service, id string,
	timeout time.Duration, done func(domain.Job) bool) domain.Job {
	t.Helper()
	var job domain.Job
	waitFor(t, "job "+id, timeout, func() bool {
		var err error
		job, err = svc.Get(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return done(job)
	})
	return job
}

func terminal(j domain.Job) bool { return j.State.Terminal() }

// countTo counts the history entries that moved the job to st.
func countTo(j domain.Job, st domain.State) int {
	n := 0
	for _, tr := range j.StateHistory {
		if tr.ToState == st {
			n++
		}
	}
	return n
}

// history renders a job's state history for failure messages.
func history(j domain.Job) string {
	var b strings.Builder
	for _, tr := range j.StateHistory {
		fmt.Fprintf(&b, "\n  %s -> %s (%s)", tr.FromState, tr.ToState, tr.Reason)
	}
	return b.String()
}

// lostLeaseRequeue reports whether the history has a move back to QUEUED for a lost lease.
func lostLeaseRequeue(j domain.Job) bool {
	for _, tr := range j.StateHistory {
		if tr.ToState == domain.StateQueued && tr.FromState.Active() &&
			strings.Contains(tr.Reason, "lease") {
			return true
		}
	}
	return false
}

// decode unmarshals a JSON body, failing the test with the body when it does not fit.
func decode(t testing.TB, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
}
