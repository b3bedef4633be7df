package faults

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Fifty concurrent DELETEs of a conversion the real worker binary is running: every answer
// is 202 while a worker holds the job, qemu-img stops, nothing is left in the output and
// work folders, and the job ends CANCELLED once. Fifty more DELETEs afterwards all answer
// 409 invalid_transition and change nothing.
func TestConcurrentCancelsRealConversion(t *testing.T) {
	t.Parallel()
	p := newProcessStack(t)
	p.startWorker(t, "worker-x")
	const id = "cancel50-real"
	p.submitConversion(t, id)
	p.waitProgress(t, id, 10)
	if n := len(qemuImgsMentioning(p.dir)); n == 0 {
		t.Fatalf("no qemu-img running on %s before the cancels", p.dir)
	}
	sent := time.Now()
	tally, got := cancelAll(p.api, id)
	job := p.api.waitJob(id, 60*time.Second, terminal)
	t.Logf("cancels while running: %v; CANCELLED %s after they were sent", tally,
		cancelledAt(job).Sub(sent).Round(time.Millisecond))
	checkCancelled(t, job)
	checkHeldCancels(t, got, job)
	checkOneCancelEvent(t, t.Context(), p.st.Svc, id)
	checkNothingLeft(t, p.dirs.output)
	checkNoQemuImg(t, p.dir)
	emptyDir(t, p.dirs.work)

	tally, got = cancelAll(p.api, id)
	t.Logf("cancels after the end: %v", tally)
	for i, a := range got {
		if a.status != http.StatusConflict || a.kind != domain.KindInvalidTransition {
			t.Errorf("cancel %d after CANCELLED: got %d %q, want 409 invalid_transition", i,
				a.status, a.kind)
		}
	}
	if after := p.api.job(id); !sameHistory(after, job) {
		t.Errorf("history changed by the late cancels:%s\nwas:%s", history(after),
			history(job))
	}
}

// checkHeldCancels checks the answers to cancels sent while a worker held the job: 202
// naming an active state; 409 invalid_transition only once the job had ended CANCELLED;
// 200 only if the job was no longer held when it was cancelled.
func checkHeldCancels(t *testing.T, got []answer, job domain.Job) {
	t.Helper()
	held := true
	for _, tr := range job.StateHistory {
		if tr.ToState == domain.StateCancelled {
			held = tr.FromState.Active()
		}
	}
	accepted := 0
	for i, a := range got {
		switch {
		case a.status == http.StatusAccepted && a.state.Active():
			accepted++
		case a.status == http.StatusConflict && a.kind == domain.KindInvalidTransition &&
			job.State == domain.StateCancelled:
		case a.status == http.StatusOK && a.state == domain.StateCancelled && !held:
		default:
			t.Errorf("cancel %d: got %d %q %s, want 202 with an active state (409 only "+
				"after CANCELLED, 200 only for a job no worker held)", i, a.status, a.kind,
				a.state)
		}
	}
	if accepted == 0 {
		t.Errorf("cancels: none answered 202, want the first at least")
	}
}

// checkNoQemuImg fails for every qemu-img whose command line mentions dir, then kills it.
func checkNoQemuImg(t *testing.T, dir string) {
	t.Helper()
	for _, pid := range qemuImgsMentioning(dir) {
		t.Errorf("qemu-img still running on %s: pid %d: %s", dir, pid, cmdlineOf(pid))
	}
	killStrays(t, dir)
}

// qemuImgsMentioning lists the qemu-img processes whose command line mentions dir.
func qemuImgsMentioning(dir string) []int {
	var out []int
	for _, pid := range procsUsing(dir) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		argv0, _, _ := bytes.Cut(b, []byte{0})
		if err == nil && filepath.Base(string(argv0)) == "qemu-img" {
			out = append(out, pid)
		}
	}
	return out
}

// emptyDir fails the test when dir holds anything.
func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("read %s: %v", dir, err)
	}
	for _, e := range entries {
		t.Errorf("%s: %s is left behind", dir, e.Name())
	}
}
