package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

const dequeueBody = `{"worker_id": "worker-1", "capabilities": ["qemu_img"], "wait_seconds": %d}`

type dequeued struct {
	Job   map[string]any `json:"job"`
	Lease struct {
		JobID     string `json:"job_id"`
		Token     string `json:"token"`
		Attempt   int    `json:"attempt"`
		ExpiresAt string `json:"expires_at"`
	} `json:"lease"`
}

// dequeue long-polls over HTTP until a job is handed out.
func (f *fixture) dequeue() dequeued {
	f.t.Helper()
	var d dequeued
	eventually(f.t, time.Minute, "dequeue hands out a job", func() bool {
		r := f.call("POST", "/queue/dequeue", fmt.Sprintf(dequeueBody, 2))
		if r.status == http.StatusNoContent {
			return false
		}
		r.expect(f.t, http.StatusOK, &d)
		return true
	})
	return d
}

// report posts a progress report under a lease token.
func (f *fixture) report(id, token string, pct float64) reply {
	f.t.Helper()
	body := fmt.Sprintf(`{"phase": "conversion", "progress_percent": %g, "message": "m",
		"details": {"disk": "a", "done_bytes": 1, "nested": {"x": [1]}}}`, pct)
	return f.call("POST", "/jobs/"+id+"/events", body, "X-Lease-Token", token)
}

func TestDequeueReportAndFinish(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.call("POST", "/queue/dequeue", fmt.Sprintf(dequeueBody, 0)).
		expect(t, http.StatusNoContent, nil)
	f.submit(exampleJob, true)
	d := f.dequeue()
	if d.Job["job_id"] != "convert-vm-123" || d.Lease.Token == "" || d.Lease.Attempt != 1 {
		t.Fatalf("dequeue: got job %v lease %+v, want convert-vm-123 attempt 1", d.Job["job_id"],
			d.Lease)
	}
	wantUTC(t, "lease.expires_at", d.Lease.ExpiresAt)
	if s := f.job("convert-vm-123").State; s != "ASSIGNED" {
		t.Errorf("after dequeue: got %s, want ASSIGNED", s)
	}
	var ans struct {
		Seq int64 `json:"seq"`
	}
	f.report("convert-vm-123", d.Lease.Token, 20).expect(t, http.StatusCreated, &ans)
	if s := f.job("convert-vm-123").State; ans.Seq != 1 || s != "RUNNING" {
		t.Errorf("first report: got seq %d state %s, want 1 RUNNING", ans.Seq, s)
	}
	f.report("convert-vm-123", d.Lease.Token, 40).expect(t, http.StatusCreated, &ans)
	if s := f.job("convert-vm-123").State; ans.Seq != 2 || s != "PROGRESSING" {
		t.Errorf("second report: got seq %d state %s, want 2 PROGRESSING", ans.Seq, s)
	}
	path := "/jobs/convert-vm-123/events"
	f.report("convert-vm-123", "stale-token", 50).wantError(t, http.StatusConflict,
		"lease_lost", path)
	f.call("POST", path, `{"phase": "conversion"}`).wantError(t, http.StatusBadRequest,
		"validation_failed", path).wantField(t, "X-Lease-Token")
	bad := `{"phase": "warp", "progress_percent": 101, "extra": 1}`
	f.call("POST", path, bad, "X-Lease-Token", d.Lease.Token).wantError(t,
		http.StatusBadRequest, "validation_failed", path).wantField(t, "extra")
	finish(t, f, d.Lease.Token)
}

func finish(t *testing.T, f *fixture, token string) {
	t.Helper()
	path := "/jobs/convert-vm-123/result"
	res := `{"status": "COMPLETED", "outputs": {"fixed_image": "/out/convert-vm-123.qcow2"},
		"metrics": {"execution_seconds": 1.5}}`
	f.call("POST", path, `{"status": "FAILED"}`, "X-Lease-Token", token).wantError(t,
		http.StatusBadRequest, "validation_failed", path).wantField(t, "error.code")
	var done struct {
		State  string     `json:"state"`
		Result resultView `json:"result"`
	}
	f.call("POST", path, res, "X-Lease-Token", token).expect(t, http.StatusOK, &done)
	if done.State != "COMPLETED" || done.Result.Outputs["fixed_image"] == nil {
		t.Errorf("result: got %+v, want COMPLETED with fixed_image", done)
	}
	f.call("POST", path, res, "X-Lease-Token", token).wantError(t, http.StatusConflict,
		"lease_lost", path)
	f.call("DELETE", "/jobs/convert-vm-123", "").wantError(t, http.StatusConflict,
		"invalid_transition", "/jobs/convert-vm-123")
	j := f.job("convert-vm-123")
	want := []string{"VALIDATED", "QUEUED", "ASSIGNED", "RUNNING", "PROGRESSING", "COMPLETED"}
	if got := states(j.StateHistory); !slices.Equal(got, want) {
		t.Errorf("state_history: got %v, want %v", got, want)
	}
}

func TestHeartbeatCarriesCancel(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.call("POST", "/workers/ghost/heartbeat", "").wantError(t, http.StatusNotFound,
		"not_found", "/workers/ghost/heartbeat")
	f.submit(exampleJob, true)
	d := f.dequeue()
	beat := fmt.Sprintf(`{"leases": [{"job_id": "convert-vm-123", "token": %q}]}`, d.Lease.Token)
	var hb struct {
		LeaseExpiresAt string   `json:"lease_expires_at"`
		Cancel         []string `json:"cancel"`
	}
	f.call("POST", "/workers/worker-1/heartbeat", beat).expect(t, http.StatusOK, &hb)
	wantUTC(t, "lease_expires_at", hb.LeaseExpiresAt)
	if hb.Cancel == nil || len(hb.Cancel) != 0 {
		t.Errorf("cancel before DELETE: got %v, want []", hb.Cancel)
	}
	var c struct {
		CancelRequested bool `json:"cancel_requested"`
	}
	f.call("DELETE", "/jobs/convert-vm-123", "").expect(t, http.StatusAccepted, &c)
	if !c.CancelRequested {
		t.Error("cancel of an assigned job: got cancel_requested false, want true")
	}
	f.call("POST", "/workers/worker-1/heartbeat", beat).expect(t, http.StatusOK, &hb)
	if !slices.Equal(hb.Cancel, []string{"convert-vm-123"}) {
		t.Errorf("cancel after DELETE: got %v, want [convert-vm-123]", hb.Cancel)
	}
	f.report("convert-vm-123", d.Lease.Token, 30).expect(t, http.StatusCreated, &c)
	if !c.CancelRequested {
		t.Error("report after DELETE: got cancel_requested false, want true")
	}
	f.call("POST", "/workers/worker-1/heartbeat", `{"leases": 3}`).wantError(t,
		http.StatusBadRequest, "validation_failed", "/workers/worker-1/heartbeat")
	failed := `{"status": "FAILED", "error": {"phase": "cancelled", "code": "CANCELLED",
		"message": "stopped"}}`
	f.call("POST", "/jobs/convert-vm-123/result", failed, "X-Lease-Token", d.Lease.Token).
		expect(t, http.StatusOK, nil)
	if s := f.job("convert-vm-123").State; s != "CANCELLED" {
		t.Errorf("after the worker stopped: got %s, want CANCELLED", s)
	}
}

func TestUnregisterReleasesLeases(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(exampleJob, true)
	d := f.dequeue()
	var ans struct {
		Released int `json:"released_jobs"`
	}
	f.call("DELETE", "/workers/worker-1", "").expect(t, http.StatusOK, &ans)
	if ans.Released != 1 {
		t.Errorf("released_jobs: got %d, want 1", ans.Released)
	}
	j := f.job("convert-vm-123")
	if j.State != "QUEUED" {
		t.Errorf("after unregister: got %s, want QUEUED", j.State)
	}
	last := j.StateHistory[len(j.StateHistory)-1]
	if !strings.Contains(last.Reason, "worker-1") {
		t.Errorf("reason: got %q, want it to name worker-1", last.Reason)
	}
	f.report("convert-vm-123", d.Lease.Token, 10).wantError(t, http.StatusConflict,
		"lease_lost", "/jobs/convert-vm-123/events")
	f.call("DELETE", "/workers/worker-1", "").wantError(t, http.StatusNotFound, "not_found",
		"/workers/worker-1")
	again := f.dequeue()
	if again.Lease.Attempt != 2 {
		t.Errorf("attempt after release: got %d, want 2", again.Lease.Attempt)
	}
}

// TestUnregisterKeepsPendingCancel: a user cancelled a running job, then its worker went
// away before stopping it. The job must end CANCELLED, not go back to the queue and run.
func TestUnregisterKeepsPendingCancel(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(exampleJob, true)
	f.dequeue()
	f.call("DELETE", "/jobs/convert-vm-123", "").expect(t, http.StatusAccepted, nil)
	f.call("DELETE", "/workers/worker-1", "").expect(t, http.StatusOK, nil)
	j := f.job("convert-vm-123")
	if j.State != "CANCELLED" {
		t.Errorf("cancelled job after its worker left: got %s (cancel_requested %v), "+
			"want CANCELLED", j.State, j.CancelReq)
	}
}

// TestWorkerLostClosesStream: a job whose last allowed lease is lost ends FAILED with
// WORKER_LOST, and like every terminal state it gets its closing event, so that polling
// sees it and the stream ends with complete.
func TestWorkerLostClosesStream(t *testing.T) {
	t.Parallel()
	f := setupStack(t, stacktest.Options{Service: service.Config{MaxLostLeases: 1}},
		func(*stacktest.Stack) httpapi.Options {
			return httpapi.Options{Stream: httpapi.StreamOptions{FastPoll: 10 * time.Millisecond,
				SlowPoll: 50 * time.Millisecond, MaxDuration: 3 * time.Second}}
		})
	f.submit(exampleJob, true)
	f.dequeue()
	f.call("DELETE", "/workers/worker-1", "").expect(t, http.StatusOK, nil)
	j := f.job("convert-vm-123")
	if j.State != "FAILED" || j.Result == nil || j.Result.Error["code"] != "WORKER_LOST" {
		t.Fatalf("after losing its only allowed lease: got %s %+v, want FAILED WORKER_LOST",
			j.State, j.Result)
	}
	latest, _ := j.LatestEvent["seq"].(float64)
	p := f.events("")
	if got := p.seqs(); len(got) == 0 || got[len(got)-1] != int64(latest) {
		t.Errorf("events: got seqs %v, want them to end with latest_event seq %v", got, latest)
	}
	_, rd := f.stream(streamPath)
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("stream ended without complete: %v", err)
		}
		if ev.Event == "complete" {
			if !strings.Contains(ev.Data, `"FAILED"`) {
				t.Errorf("complete: got %s, want FAILED", ev.Data)
			}
			return
		}
	}
}
