package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// sixEvents is a job's whole life, ending FAILED; the drop tests cut the stream inside it.
func sixEvents(f *fakeAPI, id string, st domain.State) *domain.Job {
	sda := func(done int) map[string]any {
		return map[string]any{"disk": "sda", "done_bytes": done << 20, "total_bytes": 400 << 20}
	}
	j := f.addJob(id, st,
		progress(1, domain.PhaseValidation, 0, "checking the spec", nil),
		progress(2, domain.PhaseConversion, 10, "converting", sda(0)),
		progress(3, domain.PhaseConversion, 30, "converting", sda(100)),
		progress(4, domain.PhaseConversion, 50, "converting", sda(200)),
		progress(5, domain.PhaseVerification, 80, "comparing", nil),
		progress(6, domain.Phase(strings.ToLower(string(st))), 80, "the end", nil))
	j.Result = &domain.Result{JobID: id, Status: st}
	if st == domain.StateFailed {
		j.Result.Error = &domain.JobError{Phase: domain.PhaseVerification,
			Code: domain.CodeChecksumMismatch, Message: "output differs from the source"}
	}
	if st == domain.StateCompleted {
		j.Result.Outputs.FixedImage = "/out/" + id + ".qcow2"
		j.Result.Metrics = map[string]any{"execution_seconds": 83.0}
	}
	return j
}

// seqs returns the seq of each "#N " line, in order.
func seqs(stdout string) []string {
	var out []string
	for _, l := range strings.Split(stdout, "\n") {
		if n, _, ok := strings.Cut(l, " "); ok && strings.HasPrefix(n, "#") {
			out = append(out, n[1:])
		}
	}
	return out
}

var allSix = []string{"1", "2", "3", "4", "5", "6"}

func TestMonitorResumesAfterDroppedConnection(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sixEvents(f, "j", domain.StateFailed)
	f.drops = []int{3} // three whole events, then a cut in the middle of the fourth
	r := f.run(t, Env{}, "monitor", "j")
	wantCode(t, r, ExitFailed)
	if got := seqs(r.stdout); !slices.Equal(got, allSix) {
		t.Errorf("events shown: got %q, want each of 1-6 once, in order\n%s", got, r.stdout)
	}
	if got := f.lastEventIDs(); !slices.Equal(got, []string{"", "3"}) {
		t.Errorf("Last-Event-ID per connection: got %q, want none, then 3", got)
	}
	want := "h2k: job j ended FAILED: CHECKSUM_MISMATCH: output differs from the source " +
		"(in verification)\n"
	if r.stderr != want {
		t.Errorf("stderr: got %q, want %q", r.stderr, want)
	}
}

func TestMonitorExitCodeFollowsFinalState(t *testing.T) {
	t.Parallel()
	cases := []struct {
		state  domain.State
		code   int
		stdout string
		stderr string
	}{
		{domain.StateCompleted, ExitOK, "job j COMPLETED: output /out/j.qcow2 (1m23s)\n", ""},
		{domain.StateFailed, ExitFailed, "", "h2k: job j ended FAILED: CHECKSUM_MISMATCH"},
		{domain.StateCancelled, ExitCancelled, "", "h2k: job j ended CANCELLED\n"},
	}
	for _, tc := range cases {
		t.Run(string(tc.state), func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			sixEvents(f, "j", tc.state)
			f.drops = []int{2, 0, 1} // cut three times, once before any event
			r := f.run(t, Env{}, "monitor", "j")
			wantCode(t, r, tc.code)
			if got := seqs(r.stdout); !slices.Equal(got, allSix) {
				t.Errorf("events shown: got %q, want each of 1-6 once", got)
			}
			if got := f.lastEventIDs(); !slices.Equal(got, []string{"", "2", "2", "3"}) {
				t.Errorf("Last-Event-ID per connection: got %q, want none, 2, 2, 3", got)
			}
			wantContains(t, "stdout", r.stdout, tc.stdout)
			if !strings.HasPrefix(r.stderr, tc.stderr) || (tc.stderr == "") != (r.stderr == "") {
				t.Errorf("stderr: got %q, want %q", r.stderr, tc.stderr)
			}
		})
	}
}

// TestMonitorRestartsAnExhaustedWatch covers the restart around client.Watch: its failure
// count is used up while events still flow, and the restarted stream replays from the start.
func TestMonitorResumesAfterEveryDrop(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sixEvents(f, "j", domain.StateCompleted)
	f.drops = []int{1, 1, 1}
	r := f.run(t, Env{Reconnects: 1}, "monitor", "j")
	wantCode(t, r, ExitOK)
	if got := seqs(r.stdout); !slices.Equal(got, allSix) {
		t.Errorf("events shown: got %q, want each of 1-6 once\n%s", got, r.stdout)
	}
	if got := f.lastEventIDs(); !slices.Equal(got, []string{"", "1", "2", "3"}) {
		t.Errorf("Last-Event-ID per connection: got %q, want none, 1, 2, 3", got)
	}
}

func TestMonitorGivesUpOnADeadStream(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sixEvents(f, "j", domain.StateCompleted)
	f.drops = []int{0, 0, 0, 0}
	r := f.run(t, Env{Reconnects: 2}, "monitor", "j")
	wantCode(t, r, ExitAPI)
	if n := len(f.lastEventIDs()); n != 3 {
		t.Errorf("connections: got %d, want 3 (the first and two reconnects)", n)
	}
	wantContains(t, "stderr", r.stderr, "h2k: monitor job j: stream of job j: ")
	if strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr: got %q, want one line", r.stderr)
	}
}

func TestMonitorJSONLines(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sixEvents(f, "j", domain.StateCompleted)
	f.drops = []int{4}
	r := f.run(t, Env{}, "monitor", "j", "--json")
	wantCode(t, r, ExitOK)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var got []string
	for _, l := range lines {
		var v struct {
			Event string `json:"event"`
			Data  struct {
				Seq   int64  `json:"seq"`
				State string `json:"state"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, fmt.Sprintf("%s:%d%s", v.Event, v.Data.Seq, v.Data.State))
	}
	want := []string{"progress:1", "progress:2", "progress:3", "progress:4", "progress:5",
		"progress:6", "complete:0COMPLETED"}
	if !slices.Equal(got, want) {
		t.Errorf("lines: got %q, want %q", got, want)
	}
}

func TestMonitorOnATerminal(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	sixEvents(f, "j", domain.StateCompleted)
	r := f.run(t, Env{TTY: true, Width: 120}, "monitor", "j")
	wantCode(t, r, ExitOK)
	// One redrawn line per phase and disk: validation, conversion of sda, verification,
	// completed; the rate and ETA come from the events' timestamps one second apart.
	wantContains(t, "tty", r.stdout, "\r[##..................]  10.0%  conversion     sda "+
		"0 B/400.0 MiB  converting\x1b[K")
	wantContains(t, "tty", r.stdout, "\r[######..............]  30.0%  conversion     sda "+
		"100.0 MiB/400.0 MiB, 100.0 MiB/s, ETA 3s  converting\x1b[K")
	wantContains(t, "tty", r.stdout, "\x1b[K\n\r[################....]  80.0%  verification")
	if !strings.HasSuffix(r.stdout, "\x1b[K\njob j COMPLETED: output /out/j.qcow2 (1m23s)\n") {
		t.Errorf("tty: got %q, want the last bar ended before the summary", r.stdout)
	}
	if n := strings.Count(r.stdout, "\n"); n != 5 {
		t.Errorf("tty: got %d newlines, want 5 (4 steps, 1 summary)\n%q", n, r.stdout)
	}
}

func TestMonitorWarnsAboutAnUnqueuedJob(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.addJob("v", domain.StateValidated)
	r := f.run(t, Env{Reconnects: 1}, "monitor", "v") // the stream never has anything
	wantCode(t, r, ExitAPI)
	want := "job v: VALIDATED\nthe job is not queued; run 'h2k queue-job v' to start it\n"
	if r.stdout != want {
		t.Errorf("stdout: got %q, want %q", r.stdout, want)
	}
}

func TestInterruptedPrintsOneLine(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var errOut strings.Builder
	code := Run(ctx, []string{"--api", f.srv.URL, "health"},
		Env{Stderr: &errOut, HTTP: f.srv.Client()})
	if code != ExitInterrupted || errOut.String() != "h2k: interrupted\n" {
		t.Errorf("got code %d, stderr %q; want 130 and one line", code, errOut.String())
	}
}
