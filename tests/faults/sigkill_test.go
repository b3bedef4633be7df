package faults

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// convertBody is a compressed convert job for the real worker: compression makes qemu-img
// take seconds on the 1 GiB test disk, long enough to be interrupted mid-way.
func convertBody(id, image string) string {
	return fmt.Sprintf(`{"job_id": %q, "operation": "convert", "image": {"path": %q, `+
		`"format": "vmdk"}, "parameters": {"output_format": "qcow2", "compress": true}}`,
		id, image)
}

// processStack is one trial's stack, API server and worker host folders.
type processStack struct {
	st     *stacktest.Stack
	api    *client
	dir    string
	dirs   hostDirs
	worker string // the worker binary
}

func newProcessStack(t *testing.T) *processStack {
	t.Helper()
	server, worker, image := artifacts(t)
	st := stacktest.New(t, stacktest.Options{Service: service.Config{Lease: 4 * time.Second}})
	dir := t.TempDir()
	d := hostDirs{input: filepath.Dir(image), output: filepath.Join(dir, "out"),
		work: filepath.Join(dir, "work")}
	for _, p := range []string{d.output, d.work} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &processStack{st: st, api: startServer(t, server, dir, st), dir: dir, dirs: d,
		worker: worker}
}

func (p *processStack) startWorker(t *testing.T, id string) *child {
	t.Helper()
	return startWorker(t, p.worker, id, p.dir, p.st, p.dirs)
}

// submitConversion submits the compressed conversion of the shared test disk.
func (p *processStack) submitConversion(t *testing.T, id string) {
	t.Helper()
	p.api.must(http.MethodPost, "/jobs?queue=true", convertBody(id, shared.image),
		http.StatusCreated)
}

// waitProgress waits until the job is PROGRESSING at pct or more; a job that ends first
// fails the test, since the fault could not be injected mid-way.
func (p *processStack) waitProgress(t *testing.T, id string, pct float64) domain.Job {
	t.Helper()
	job := p.api.waitJob(id, 90*time.Second, func(j domain.Job) bool {
		return j.State.Terminal() || j.State == domain.StateProgressing && progress(j) >= pct
	})
	if job.State.Terminal() {
		t.Fatalf("job %s ended %s before reaching %g%%:%s", id, job.State, pct, history(job))
	}
	return job
}

func progress(j domain.Job) float64 {
	if j.LatestEvent == nil {
		return 0
	}
	return j.LatestEvent.ProgressPercent
}

// A worker SIGKILLed mid-conversion loses its lease; another worker converts the disk again
// and the job completes exactly once, with a correct output and nothing left half-written.
func TestWorkerSIGKILLedMidConversion(t *testing.T) {
	t.Parallel()
	artifacts(t)
	for _, at := range []float64{0, 35, 70} {
		t.Run(fmt.Sprintf("kill_at_%g_percent", at), func(t *testing.T) {
			t.Parallel() // each trial has its own stack, server, workers and folders
			killTrial(t, at)
		})
	}
}

func killTrial(t *testing.T, at float64) {
	p := newProcessStack(t)
	a := p.startWorker(t, "worker-a")
	id := fmt.Sprintf("sigkill-%g", at)
	p.submitConversion(t, id)
	job := p.waitProgress(t, id, at)
	killed := time.Now()
	a.kill(t)
	t.Logf("worker-a killed at %.1f%% (%s)", progress(job), job.LatestEvent.Phase)
	checkNoStrayTools(t, p.dirs.output)
	p.startWorker(t, "worker-b")
	job = p.api.waitJob(id, 120*time.Second, terminal)
	logRecovery(t, job, killed)
	checkRecovered(t, job)
	checkOutput(t, shared.image, p.dirs.output, id+".qcow2")
}

// checkNoStrayTools fails when a tool the dead worker started is still running on its
// files (it would go on writing a file nobody will use), then kills it.
func checkNoStrayTools(t *testing.T, dir string) {
	t.Helper()
	// A tool tied to its worker's life needs a moment to receive its signal and exit.
	deadline := time.Now().Add(2 * time.Second)
	for len(procsUsing(dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range procsUsing(dir) {
		t.Errorf("a tool outlived the SIGKILLed worker: pid %d: %s", pid, cmdlineOf(pid))
	}
	killStrays(t, dir)
}

func logRecovery(t *testing.T, job domain.Job, killed time.Time) {
	t.Helper()
	for _, tr := range job.StateHistory {
		if tr.ToState == domain.StateQueued && tr.FromState.Active() {
			t.Logf("requeued %s after the kill (%s)", tr.Timestamp.Sub(killed).Round(
				10*time.Millisecond), tr.Reason)
		}
	}
	t.Logf("ended %s %s after the kill", job.State, job.UpdatedAt.Sub(killed).Round(
		10*time.Millisecond))
}

func checkRecovered(t *testing.T, job domain.Job) {
	t.Helper()
	by := ""
	if job.Result != nil {
		by = job.Result.WorkerID
	}
	if job.State != domain.StateCompleted || countTo(job, domain.StateCompleted) != 1 ||
		by != "worker-b" {
		t.Errorf("job: got %s by %q, want COMPLETED exactly once by worker-b:%s", job.State,
			by, history(job))
	}
	if job.Attempt < 2 || !lostLeaseRequeue(job) {
		t.Errorf("job: attempt %d, want >= 2 after a lost-lease requeue:%s", job.Attempt,
			history(job))
	}
}

// checkOutput checks that the output folder holds exactly the finished output (no partial
// or temporary file) and that qemu-img sees the same guest content as the source.
func checkOutput(t *testing.T, src, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read output dir: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != name {
		t.Errorf("output dir: got %q, want only %q", names, name)
	}
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(t.Context(), "qemu-img", "compare", "-f", "vmdk", "-F", "qcow2",
		src, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare source output: %v: %s", err, b)
	}
}
