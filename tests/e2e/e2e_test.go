package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/localrun"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

const (
	clientToken = "e2e-client-token-0123456789"
	workerToken = "e2e-worker-token-0123456789"
	workerID    = "e2e-worker-1"
)

// stack is one case's running system: its own tables and queues, API server and worker.
type stack struct {
	api    *client.Client
	data   string // the worker's input root
	output string // the worker's output root
	ctx    context.Context
}

// TestEndToEnd builds the binaries once, then runs each case on a stack of its own.
func TestEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Fatalf("qemu-img is needed (make deps installs it): %v", err)
	}
	bins := build(t)
	t.Run("convert", func(t *testing.T) { t.Parallel(); testConvert(t, bins) })
	t.Run("missing input", func(t *testing.T) { t.Parallel(); testMissingInput(t, bins) })
	t.Run("unsupported operation", func(t *testing.T) {
		t.Parallel()
		testUnsupported(t, bins)
	})
}

// startStack starts the API server and one worker host on a fresh stack.
func startStack(t *testing.T, bins binaries) *stack {
	t.Helper()
	st := stacktest.New(t, stacktest.Options{})
	env := append(st.Environ(), "LOG_LEVEL=debug")
	server := start(t, "api", bins.server, append(env, "H2K_LISTEN=127.0.0.1:0",
		"H2K_CLIENT_TOKEN="+clientToken, "H2K_WORKER_TOKEN="+workerToken,
		"STREAM_TOKEN_SECRET=e2e-stream-secret-0123456789"))
	base := server.serverURL(t)
	waitHealthy(t, base)
	s := &stack{api: client.New(base, clientToken), data: t.TempDir(), output: t.TempDir()}
	start(t, "worker", bins.worker, append(env, "WORKER_ID="+workerID,
		"H2K_INPUT_ROOTS="+s.data, "H2K_OUTPUT_ROOT="+s.output, "H2K_WORK_DIR="+t.TempDir(),
		"H2K_POLL_WAIT_SECONDS=1", "H2K_HEARTBEAT_SECONDS=1", "H2K_SHUTDOWN_GRACE_SECONDS=5"))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	s.ctx = ctx
	s.waitWorker(t)
	return s
}

// waitWorker waits until the worker host has registered and is alive.
func (s *stack) waitWorker(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var list struct {
			Workers []struct {
				WorkerID string `json:"worker_id"`
				Status   string `json:"status"`
			} `json:"workers"`
		}
		if _, err := s.api.Do(s.ctx, "GET", "/workers", nil, &list); err != nil {
			t.Fatalf("GET /workers: %v", err)
		}
		for _, w := range list.Workers {
			if w.WorkerID == workerID && w.Status == "alive" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("worker %s did not register within a minute", workerID)
}

// submit posts the original docs' example body with the given id, operation and path.
func (s *stack) submit(t *testing.T, id, op, path string) {
	t.Helper()
	body := fmt.Sprintf(`{"job_id": %q, "operation": %q, "image": {"path": %q, `+
		`"format": "vmdk"}, "parameters": {"output_format": "qcow2"}}`, id, op, path)
	if op != "convert" {
		body = strings.Replace(body, `"output_format": "qcow2"`, "", 1)
	}
	var ans struct {
		JobID string `json:"job_id"`
		State string `json:"state"`
	}
	status, err := s.api.Do(s.ctx, "POST", "/jobs?queue=true", []byte(body), &ans)
	if err != nil || status != http.StatusCreated || ans.State != "QUEUED" {
		t.Fatalf("submit %s: got %d %+v %v, want 201 QUEUED", id, status, ans, err)
	}
}

// watch follows the job's stream to its end and returns the summary and progress seen.
func (s *stack) watch(t *testing.T, id string) (client.Summary, []client.Progress) {
	t.Helper()
	var seen []client.Progress
	sum, err := s.api.Watch(s.ctx, id, func(p client.Progress) { seen = append(seen, p) }, 3)
	if err != nil {
		t.Fatalf("watch %s: %v", id, err)
	}
	return sum, seen
}

// jobView is the part of GET /jobs/{id} the cases check.
type jobView struct {
	State        string `json:"state"`
	StateHistory []struct {
		To string `json:"to_state"`
	} `json:"state_history"`
	Result struct {
		Status  string `json:"status"`
		Outputs struct {
			FixedImage string `json:"fixed_image"`
		} `json:"outputs"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"result"`
}

func (s *stack) job(t *testing.T, id string) jobView {
	t.Helper()
	var j jobView
	if _, err := s.api.Do(s.ctx, "GET", "/jobs/"+id, nil, &j); err != nil {
		t.Fatalf("GET /jobs/%s: %v", id, err)
	}
	return j
}

func (j jobView) states() []string {
	out := make([]string, len(j.StateHistory))
	for i, h := range j.StateHistory {
		out[i] = h.To
	}
	return out
}

func testConvert(t *testing.T, bins binaries) {
	s := startStack(t, bins)
	img, err := localrun.MakeTestDisk(s.ctx, s.data, 1<<30)
	if err != nil {
		t.Fatalf("make test disk: %v", err)
	}
	s.submit(t, "convert-vm-123", "convert", img)
	sum, seen := s.watch(t, "convert-vm-123")
	if sum.State != "COMPLETED" {
		t.Fatalf("complete: got %s (%s), want COMPLETED", sum.State, sum.Result)
	}
	checkProgress(t, seen)
	j := s.job(t, "convert-vm-123")
	if st := j.states(); len(st) == 0 || st[len(st)-1] != "COMPLETED" {
		t.Errorf("state_history: got %v, want it to end in COMPLETED", st)
	}
	out := j.Result.Outputs.FixedImage
	if out == "" || filepath.Dir(out) != s.realOutput(t) {
		t.Fatalf("result.outputs.fixed_image: got %q, want a file in %s", out, s.output)
	}
	cmd := exec.CommandContext(s.ctx, "qemu-img", "compare", "-f", "vmdk", "-F", "qcow2",
		img, out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare %s %s: %v: %s", img, out, err, msg)
	}
	if info := qemuInfo(t, s.ctx, out); info.Format != "qcow2" || info.VirtualSize != 1<<30 {
		t.Errorf("output: got %s of %d bytes, want qcow2 of 1 GiB", info.Format, info.VirtualSize)
	}
	checkStreamURL(t, s, "convert-vm-123")
}

// checkStreamURL follows stream_url as a browser's EventSource would: no header at all.
func checkStreamURL(t *testing.T, s *stack, id string) {
	t.Helper()
	var j struct {
		StreamURL string `json:"stream_url"`
	}
	if _, err := s.api.Do(s.ctx, "GET", "/jobs/"+id, nil, &j); err != nil {
		t.Fatalf("GET /jobs/%s: %v", id, err)
	}
	if !strings.HasPrefix(j.StreamURL, s.api.Base+"/jobs/"+id+"/events/stream?access_token=") {
		t.Fatalf("stream_url: got %q, want this server's stream with a token", j.StreamURL)
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, j.StreamURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET stream_url: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET stream_url without a header: got %d, want 200", resp.StatusCode)
	}
	rd := client.NewSSEReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("stream_url: ended before complete: %v", err)
		}
		if ev.Event == "complete" {
			if !strings.Contains(ev.Data, `"COMPLETED"`) {
				t.Errorf("stream_url complete: got %s, want COMPLETED", ev.Data)
			}
			return
		}
	}
}

// realOutput is the output root as the worker resolves it (symlinks followed).
func (s *stack) realOutput(t *testing.T) string {
	p, err := filepath.EvalSymlinks(s.output)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkProgress: several distinct percentages strictly between 0 and 100, never going
// backwards, seq strictly rising.
func checkProgress(t *testing.T, seen []client.Progress) {
	t.Helper()
	distinct := map[float64]bool{}
	for i, p := range seen {
		if p.ProgressPercent > 0 && p.ProgressPercent < 100 {
			distinct[p.ProgressPercent] = true
		}
		if i == 0 {
			continue
		}
		prev := seen[i-1]
		if p.Seq <= prev.Seq {
			t.Errorf("event %d: seq %d after %d, want strictly rising", i, p.Seq, prev.Seq)
		}
		if p.ProgressPercent < prev.ProgressPercent {
			t.Errorf("event %d: %v%% after %v%%, want never backwards", i, p.ProgressPercent,
				prev.ProgressPercent)
		}
	}
	if len(distinct) < 3 {
		t.Errorf("intermediate percentages: got %d distinct (%v), want at least 3",
			len(distinct), distinct)
	}
	if n := len(seen); n == 0 || seen[n-1].ProgressPercent != 100 || seen[n-1].Phase != "completed" {
		t.Errorf("last progress event: got %+v, want completed at 100", seen[max(0, n-1):])
	}
}

type imageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}

func qemuInfo(t *testing.T, ctx context.Context, path string) imageInfo {
	t.Helper()
	out, err := exec.CommandContext(ctx, "qemu-img", "info", "--output=json", path).Output()
	var info imageInfo
	if err == nil {
		err = json.Unmarshal(out, &info)
	}
	if err != nil {
		t.Fatalf("qemu-img info %s: %v", path, err)
	}
	return info
}

func testMissingInput(t *testing.T, bins binaries) {
	s := startStack(t, bins)
	s.submit(t, "convert-vm-404", "convert", filepath.Join(s.data, "vm.vmdk"))
	wantFailed(t, s, "convert-vm-404", "INPUT_NOT_FOUND")
}

func testUnsupported(t *testing.T, bins binaries) {
	s := startStack(t, bins)
	img, err := localrun.MakeTestDisk(s.ctx, s.data, 8<<20)
	if err != nil {
		t.Fatalf("make test disk: %v", err)
	}
	s.submit(t, "repair-vm-1", "boot_repair", img)
	wantFailed(t, s, "repair-vm-1", "UNSUPPORTED_OPERATION")
	if entries, _ := os.ReadDir(s.output); len(entries) != 0 {
		t.Errorf("output root: got %d entries, want nothing written", len(entries))
	}
}

// wantFailed follows the job to its end: FAILED with code, never COMPLETED.
func wantFailed(t *testing.T, s *stack, id, code string) {
	t.Helper()
	sum, _ := s.watch(t, id)
	var res struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(sum.Result, &res)
	if sum.State != "FAILED" || res.Error == nil || res.Error.Code != code {
		t.Errorf("complete: got %s %s, want FAILED with %s", sum.State, sum.Result, code)
	}
	j := s.job(t, id)
	if j.State != "FAILED" || j.Result.Error == nil || j.Result.Error.Code != code {
		t.Errorf("GET /jobs/%s: got %s %+v, want FAILED with %s", id, j.State, j.Result.Error,
			code)
	}
	for _, st := range j.states() {
		if st == "COMPLETED" {
			t.Errorf("state_history: got %v, want no COMPLETED", j.states())
		}
	}
}
