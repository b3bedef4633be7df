package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// docsJob is the original docs' example body, which must work verbatim.
const docsJob = `{"job_id": "convert-vm-123", "operation": "convert", "image": {"path":
 "/data/vm.vmdk", "format": "vmdk"}, "parameters": {"output_format": "qcow2"}}`

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantCode(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit code: got %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want,
			r.stdout, r.stderr)
	}
}

func wantContains(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s: got %q, want it to contain %q", what, got, want)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	r := f.run(t, Env{}, "health")
	wantCode(t, r, ExitOK)
	want := "healthy (version v1): alive workers 2, active jobs 1, at 2026-01-02T03:04:05Z\n"
	if r.stdout != want {
		t.Errorf("stdout: got %q, want %q", r.stdout, want)
	}
	r = f.run(t, Env{}, "--json", "health")
	var h map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &h); err != nil || h["status"] != "healthy" {
		t.Errorf("--json: got %q (%v), want the health document", r.stdout, err)
	}
}

func TestHealthUnhealthyPrintsEnvelopeMessage(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.unhealthy = true
	r := f.run(t, Env{}, "health")
	wantCode(t, r, ExitAPI)
	if want := "h2k: a dependency is unreachable: dynamodb unreachable\n"; r.stderr != want {
		t.Errorf("stderr: got %q, want %q", r.stderr, want)
	}
}

func TestSubmitFromFile(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	r := f.run(t, Env{}, "submit", writeFile(t, "job.json", docsJob))
	wantCode(t, r, ExitOK)
	want := "job convert-vm-123: QUEUED, job created and queued (queue position 3)\n"
	if r.stdout != want {
		t.Errorf("stdout: got %q, want %q", r.stdout, want)
	}
	if !slices.Contains(f.seen(), "POST /jobs?queue=true ") {
		t.Errorf("requests: got %q, want a POST /jobs?queue=true", f.seen())
	}
}

func TestSubmitFromStdinWithoutQueue(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	r := f.run(t, Env{Stdin: strings.NewReader(docsJob)}, "submit", "-", "--queue=false")
	wantCode(t, r, ExitOK)
	wantContains(t, "stdout", r.stdout, "job convert-vm-123: VALIDATED, job created; "+
		"run 'h2k queue-job convert-vm-123' to queue it")
	if !slices.Contains(f.seen(), "POST /jobs ") {
		t.Errorf("requests: got %q, want a POST /jobs without queue", f.seen())
	}
	r = f.run(t, Env{Stdin: strings.NewReader(`{"job_id": "j2", "operation": "inspect", ` +
		`"image": {"path": "/x.raw"}}`)}, "--json", "submit")
	wantCode(t, r, ExitOK)
	var ans map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || ans["job_id"] != "j2" {
		t.Errorf("--json submit: got %q (%v), want the submit answer", r.stdout, err)
	}
}

func TestSubmitInvalidSpecPrintsEveryField(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	r := f.run(t, Env{}, "submit", writeFile(t, "bad.json",
		`{"job_id": "x", "operation": "melt", "image": {"format": "tar"}}`))
	wantCode(t, r, ExitAPI)
	if !strings.HasPrefix(r.stderr, "h2k: ") || strings.Contains(r.stderr, "goroutine") {
		t.Errorf("stderr: got %q, want an h2k: message and no trace", r.stderr)
	}
	wantContains(t, "stderr", r.stderr, "\n  operation: must be one of")
	wantContains(t, "stderr", r.stderr, "\n  image.path: ")
}

func TestSubmitMonitorExitsWithJobState(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	j := f.addJob("convert-vm-123", domain.StateCancelled,
		progress(1, domain.PhaseConversion, 10, "converting", nil),
		progress(2, domain.PhaseCancelled, 10, "cancelled by user", nil))
	j.Result = &domain.Result{Status: domain.StateCancelled}
	r := f.run(t, Env{}, "submit", writeFile(t, "job.json", docsJob), "--monitor")
	wantCode(t, r, ExitCancelled)
	wantContains(t, "stdout", r.stdout, "job already exists with the same spec")
	wantContains(t, "stdout", r.stdout, "#2 ")
	wantContains(t, "stderr", r.stderr, "h2k: job convert-vm-123 ended CANCELLED")
}

func TestGet(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.addJob("j1", domain.StateRunning)
	r := f.run(t, Env{}, "get", "j1")
	wantCode(t, r, ExitOK)
	var j domain.Job
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.JobID != "j1" ||
		j.State != domain.StateRunning {
		t.Errorf("stdout: got %q (%v), want job j1 as JSON", r.stdout, err)
	}
}

func TestUnknownJobPrintsEnvelope(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for _, cmd := range []string{"get", "cancel", "queue-job", "events", "monitor"} {
		r := f.run(t, Env{}, cmd, "convert-vm-999")
		wantCode(t, r, ExitAPI)
		if want := "h2k: job convert-vm-999 not found\n"; r.stderr != want {
			t.Errorf("%s stderr: got %q, want %q", cmd, r.stderr, want)
		}
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		f.addJob(id, domain.StateQueued)
	}
	f.jobs["c"].State = domain.StateFailed
	r := f.run(t, Env{}, "list")
	wantCode(t, r, ExitOK)
	if got := len(strings.Split(strings.TrimSpace(r.stdout), "\n")); got != 3 {
		t.Errorf("rows: got %d lines, want a header and 2 rows:\n%s", got, r.stdout)
	}
	wantContains(t, "stderr", r.stderr, "more jobs: h2k list --next c2 (or --all)")

	r = f.run(t, Env{}, "list", "--all")
	wantCode(t, r, ExitOK)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		wantContains(t, "--all stdout", r.stdout, "\n"+id+" ")
	}
	if r.stderr != "" {
		t.Errorf("--all stderr: got %q, want none", r.stderr)
	}

	r = f.run(t, Env{}, "list", "--state", "failed", "--json", "--all")
	var page struct {
		Jobs  []domain.Job `json:"jobs"`
		Count int          `json:"count"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || page.Count != 1 ||
		page.Jobs[0].JobID != "c" {
		t.Errorf("--state failed --json: got %q (%v), want job c only", r.stdout, err)
	}
	wantContains(t, "requests", strings.Join(f.seen(), "\n"), "GET /jobs?limit=100&state=FAILED")
}

func TestCancel(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.addJob("q", domain.StateQueued)
	f.addJob("r", domain.StateRunning)
	f.addJob("done", domain.StateCompleted)
	r := f.run(t, Env{}, "cancel", "q")
	wantCode(t, r, ExitOK)
	if want := "job q: CANCELLED (job cancelled)\n"; r.stdout != want {
		t.Errorf("stdout: got %q, want %q", r.stdout, want)
	}
	r = f.run(t, Env{}, "cancel", "r")
	wantCode(t, r, ExitOK)
	wantContains(t, "stdout", r.stdout, "job r: RUNNING, cancel requested (a worker is")
	r = f.run(t, Env{}, "cancel", "done")
	wantCode(t, r, ExitAPI)
	if want := "h2k: job done is already COMPLETED\n"; r.stderr != want {
		t.Errorf("stderr: got %q, want %q", r.stderr, want)
	}
}

func TestQueueJob(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.addJob("v", domain.StateValidated)
	r := f.run(t, Env{}, "queue-job", "v")
	wantCode(t, r, ExitOK)
	if want := "job v: QUEUED (waiting: no alive worker with nbd)\n"; r.stdout != want {
		t.Errorf("stdout: got %q, want %q", r.stdout, want)
	}
	if !slices.Contains(f.seen(), "POST /jobs/v/queue ") {
		t.Errorf("requests: got %q, want POST /jobs/v/queue", f.seen())
	}
}

func eventJob(f *fakeAPI) {
	f.addJob("j", domain.StateRunning,
		progress(1, domain.PhaseValidation, 0, "checking", nil),
		progress(2, domain.PhasePreflight, 5, "space ok", nil),
		progress(3, domain.PhaseConversion, 10, "converting", map[string]any{"disk": "sda",
			"done_bytes": 1 << 30, "total_bytes": 4 << 30}),
		progress(4, domain.PhaseConversion, 50, "converting", nil),
		progress(5, domain.PhaseVerification, 90, "comparing", nil))
}

func TestEventsFollowsPages(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	eventJob(f)
	r := f.run(t, Env{}, "events", "j")
	wantCode(t, r, ExitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("stdout: got %d lines, want a header and 5 events:\n%s", len(lines), r.stdout)
	}
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, string(rune('1'+i))+" ") {
			t.Errorf("line %d: got %q, want seq %d first", i+1, l, i+1)
		}
	}
	wantContains(t, "disk column", lines[3], "sda 1.0 GiB/4.0 GiB")
}

func TestEventsAfterAndSince(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	eventJob(f)
	r := f.run(t, Env{}, "events", "j", "--after", "3", "--json")
	wantCode(t, r, ExitOK)
	var page struct {
		Events    []domain.Event `json:"events"`
		NextAfter int64          `json:"next_after"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Events) != 2 ||
		page.Events[0].Seq != 4 || page.NextAfter != 5 {
		t.Errorf("--after 3: got %q (%v), want events 4 and 5", r.stdout, err)
	}
	r = f.run(t, Env{}, "events", "--since", "2026-01-02T03:04:04Z", "j", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Events) != 2 ||
		page.Events[0].Seq != 4 {
		t.Errorf("--since: got %q (%v), want events 4 and 5", r.stdout, err)
	}
	// The clock stands at 03:04:05; "2s" ago is 03:04:03, from event 3 on.
	r = f.run(t, Env{}, "events", "j", "--since", "2s", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Events) != 3 {
		t.Errorf("--since 2s: got %q (%v), want events 3 to 5", r.stdout, err)
	}
	wantContains(t, "requests", strings.Join(f.seen(), "\n"),
		"since=2026-01-02T03%3A04%3A03Z")
}

// registration is the original docs' example registration.
const registration = `{"worker_id": "worker-1", "capabilities": ["nbd_access", "lvm_tools",
 "qemu_img"], "execution_mode": "PRIVILEGED_CONTAINER"}`

func TestRegisterAndWorkers(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	r := f.run(t, Env{}, "register", writeFile(t, "reg.json", registration))
	wantCode(t, r, ExitOK)
	want := "worker worker-1 registered: mode privileged_container, capabilities " +
		"nbd,lvm,qemu_img\n"
	if r.stdout != want {
		t.Errorf("stdout: got %q, want %q", r.stdout, want)
	}
	r = f.run(t, Env{}, "workers")
	wantCode(t, r, ExitOK)
	wantContains(t, "workers", r.stdout, "WORKER ID")
	wantContains(t, "workers", r.stdout, "worker-1   alive   -         privileged_container")
	r = f.run(t, Env{}, "register", writeFile(t, "bad.json", `{"worker_id": "-x"}`))
	wantCode(t, r, ExitAPI)
	wantContains(t, "stderr", r.stderr, "h2k: worker_id: must be 1-128 characters")
}

func TestQueueStatus(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	r := f.run(t, Env{}, "queue")
	wantCode(t, r, ExitOK)
	for _, want := range []string{"waiting:       3 (high 1, normal 2, low 0)\n",
		"dead letters:  4\n", "by queue:      high-basic 1, normal-device 2\n"} {
		wantContains(t, "stdout", r.stdout, want)
	}
}

func TestTokenFromFlagOrEnvironment(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	env := Env{Getenv: func(k string) string {
		if k == "H2K_TOKEN" {
			return "from-env"
		}
		return ""
	}}
	wantCode(t, f.run(t, env, "workers"), ExitOK)
	wantCode(t, f.run(t, env, "workers", "--token", "from-flag"), ExitOK)
	got := f.seen()
	if got[0] != "GET /workers Bearer from-env" || got[1] != "GET /workers Bearer from-flag" {
		t.Errorf("requests: got %q, want the env token, then the flag's", got)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cases := [][]string{
		{},
		{"frobnicate"},
		{"get"},
		{"get", "a", "b"},
		{"health", "extra"},
		{"list", "--bogus"},
		{"list", "--limit", "0"},
		{"list", "--limit", "5000"},
		{"list", "--state", "SLEEPING"},
		{"events", "j", "--since", "yesterday"},
		{"events", "j", "--after", "-1"},
		{"submit", "--monitor", "--queue=false", "job.json"},
		{"submit", "/nonexistent/job.json"},
		{"register"},
		{"--api", "ftp://example", "health"},
		{"help", "frobnicate"},
	}
	for _, args := range cases {
		r := f.run(t, Env{}, args...)
		if r.code != ExitUsage || !strings.HasPrefix(r.stderr, "h2k: ") ||
			!strings.HasSuffix(r.stderr, "Run 'h2k help' for usage.\n") {
			t.Errorf("h2k %q: got code %d, stderr %q; want 2 and a usage hint", args, r.code,
				r.stderr)
		}
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("requests: got %d, want none for usage errors", n)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := f.run(t, Env{}, args...)
		wantCode(t, r, ExitOK)
		wantContains(t, "help", r.stdout, "4    the job ended CANCELLED")
		wantContains(t, "help", r.stdout, "queue-job")
	}
	for _, args := range [][]string{{"help", "list"}, {"list", "-h"}, {"list", "--help"}} {
		r := f.run(t, Env{}, args...)
		wantCode(t, r, ExitOK)
		wantContains(t, "list help", r.stdout, "Usage: h2k list [--state S]")
		wantContains(t, "list help", r.stdout, "-all")
	}
}

func TestUnreachableAPI(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.srv.Close()
	r := f.run(t, Env{}, "health")
	wantCode(t, r, ExitAPI)
	wantContains(t, "stderr", r.stderr, "h2k: cannot reach the API at "+f.srv.URL+": ")
}
