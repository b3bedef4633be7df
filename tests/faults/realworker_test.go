package faults

import (
	"bytes"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// The duplicate-delivery case with the real worker binary and qemu-img: two worker
// processes, the job's message sent twice; one conversion, one completion, a good output.
func TestDuplicateDeliveryRealWorkers(t *testing.T) {
	t.Parallel()
	p := newProcessStack(t)
	const id = "dup-real"
	p.api.must(http.MethodPost, "/jobs?queue=true", specJSON(id, shared.image, ""),
		http.StatusCreated)
	q := queueOf(p.st)
	sendDispatch(t, t.Context(), q, spec(t, id, ""))
	workers := []*child{p.startWorker(t, "worker-1"), p.startWorker(t, "worker-2")}
	job := p.api.waitJob(id, 90*time.Second, terminal)
	waitQueuesEmpty(t, t.Context(), q)
	if job.State != domain.StateCompleted || countTo(job, domain.StateAssigned) != 1 ||
		countTo(job, domain.StateCompleted) != 1 || job.Attempt != 1 {
		t.Errorf("job: got %s attempt %d, want COMPLETED after exactly one claim:%s",
			job.State, job.Attempt, history(job))
	}
	started := 0
	for _, w := range workers {
		started += w.countLog(`"msg":"job started"`, `"job_id":"`+id+`"`)
	}
	if started != 1 {
		t.Errorf("conversions started across both workers: got %d, want 1", started)
	}
	checkOutput(t, shared.image, p.dirs.output, id+".qcow2")
}

// countLog counts the child's log lines that contain every one of parts.
func (c *child) countLog(parts ...string) int {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range bytes.Split(b, []byte("\n")) {
		all := true
		for _, part := range parts {
			all = all && bytes.Contains(line, []byte(part))
		}
		if all {
			n++
		}
	}
	return n
}

// The retry rule with the real worker: a source that does not exist fails with
// INPUT_NOT_FOUND at once, although retry_count allows two more attempts.
func TestMissingInputNotRetriedRealWorker(t *testing.T) {
	t.Parallel()
	p := newProcessStack(t)
	const id = "missing-real"
	body := specJSON(id, p.dirs.input+"/no-such-disk.vmdk",
		`, "execution_policy": {"retry_count": 2}`)
	p.api.must(http.MethodPost, "/jobs?queue=true", body, http.StatusCreated)
	p.startWorker(t, "worker-m")
	job := p.api.waitJob(id, 60*time.Second, terminal)
	code := domain.ResultCode("")
	if job.Result != nil && job.Result.Error != nil {
		code = job.Result.Error.Code
	}
	if job.State != domain.StateFailed || code != domain.CodeInputNotFound ||
		countTo(job, domain.StateRetrying) != 0 || job.Attempt != 1 {
		t.Errorf("job: got %s %q attempt %d, want FAILED INPUT_NOT_FOUND on attempt 1 "+
			"without retries:%s", job.State, code, job.Attempt, history(job))
	}
}
