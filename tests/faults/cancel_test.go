package faults

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// cancelTarget is the protocol's goal for DELETE → CANCELLED on the local stack;
// cancelBound is what the test enforces, with room for a loaded machine under -race.
const (
	cancelTarget = 5 * time.Second
	cancelBound  = 15 * time.Second
)

// Cancelling a conversion that the real worker is running stops qemu-img, removes the
// partial output and ends the job CANCELLED, within seconds.
func TestCancelRunningConversion(t *testing.T) {
	t.Parallel()
	p := newProcessStack(t)
	p.startWorker(t, "worker-c")
	const id = "cancel-real"
	p.submitConversion(t, id)
	p.waitProgress(t, id, 20)
	r := p.api.must(http.MethodDelete, "/jobs/"+id, "", http.StatusAccepted)
	accepted := time.Now()
	var ans struct {
		CancelRequested bool `json:"cancel_requested"`
	}
	decode(t, r.body, &ans)
	if !ans.CancelRequested {
		t.Errorf("DELETE answer: %s, want cancel_requested true", r.body)
	}
	job := p.api.waitJob(id, 60*time.Second, terminal)
	seen := time.Since(accepted)
	latency := cancelledAt(job).Sub(accepted)
	t.Logf("cancel latency: %s from the 202 to the CANCELLED write (%s until a poll saw it)",
		latency.Round(time.Millisecond), seen.Round(time.Millisecond))
	checkCancelled(t, job)
	if latency > cancelBound {
		t.Errorf("cancel latency: got %s, want <= %s (target %s)", latency, cancelBound,
			cancelTarget)
	}
	checkNothingLeft(t, p.dirs.output)
}

func cancelledAt(j domain.Job) time.Time {
	for _, tr := range j.StateHistory {
		if tr.ToState == domain.StateCancelled {
			return tr.Timestamp
		}
	}
	return j.UpdatedAt
}

func checkCancelled(t *testing.T, job domain.Job) {
	t.Helper()
	code := domain.ResultCode("")
	if job.Result != nil && job.Result.Error != nil {
		code = job.Result.Error.Code
	}
	if job.State != domain.StateCancelled || code != domain.CodeCancelled ||
		countTo(job, domain.StateCancelled) != 1 {
		t.Errorf("job: got %s with error code %q, want CANCELLED once with CANCELLED:%s",
			job.State, code, history(job))
	}
}

// checkNothingLeft: no output, no partial file, and no tool still running on the folder.
func checkNothingLeft(t *testing.T, dir string) {
	t.Helper()
	waitFor(t, "the stopped tool to exit", 10*time.Second, func() bool {
		return len(procsUsing(dir)) == 0
	})
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read output dir: %v", err)
	}
	for _, e := range entries {
		t.Errorf("output dir after cancel: %s is left behind", e.Name())
	}
}
