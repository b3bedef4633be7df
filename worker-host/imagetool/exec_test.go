package imagetool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sh(script string) Command {
	return Command{Name: "/bin/sh", Args: []string{"-c", script}}
}

func TestExecRunnerSuccessAndOutput(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := sh(`echo "$GREETING"; pwd`)
	c.Env, c.Dir, c.Stdout = []string{"GREETING=hello"}, "/", &out
	if err := (&ExecRunner{}).Run(context.Background(), c); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := out.String(), "hello\n/\n"; got != want {
		t.Errorf("stdout: got %q, want %q", got, want)
	}
}

func TestExecRunnerExitErrorKeepsStderrTail(t *testing.T) {
	t.Parallel()
	// 100 KiB of noise, then the line that explains the failure.
	c := sh(`head -c 102400 /dev/zero | tr '\0' x >&2; echo >&2; echo "the reason" >&2; exit 3`)
	err := (&ExecRunner{}).Run(context.Background(), c)
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("got %v, want *ExitError", err)
	}
	if ee.Code != 3 || LastLine(ee.Stderr) != "the reason" || len(ee.Stderr) > stderrTail {
		t.Errorf("got code %d, last line %q, tail %d bytes; want 3, \"the reason\", <= %d",
			ee.Code, LastLine(ee.Stderr), len(ee.Stderr), stderrTail)
	}
}

func TestExecRunnerMissingProgram(t *testing.T) {
	t.Parallel()
	err := (&ExecRunner{}).Run(context.Background(), Command{Name: "no-such-tool-here"})
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("got %v, want exec.ErrNotFound", err)
	}
}

func TestExecRunnerDoesNotStartWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	marker := t.TempDir() + "/ran"
	err := (&ExecRunner{}).Run(ctx, sh("touch "+marker))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("program ran despite a cancelled context")
	}
}

// A tool that ignores SIGTERM is killed after the grace period, together with the children
// it started, and Run reports the cancellation rather than the signal.
func TestExecRunnerCancelEscalatesToKill(t *testing.T) {
	t.Parallel()
	pidFile := t.TempDir() + "/child"
	c := sh(`trap '' TERM; sleep 60 & echo $! > ` + pidFile + `; wait`)
	ctx, cancel := context.WithCancel(context.Background())
	r := &ExecRunner{Grace: 200 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, c) }()
	child := waitForPID(t, pidFile)
	start := time.Now()
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("Run returned %v after cancel; want after the 200ms grace, promptly", d)
	}
	waitGone(t, child)
}

func TestExecRunnerCancelPoliteToolExitsOnTerm(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := (&ExecRunner{Grace: 10 * time.Second}).Run(ctx, sh("exec sleep 60"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v; SIGTERM should have ended sleep without waiting for the grace", d)
	}
}

func waitForPID(t *testing.T, path string) int {
	t.Helper()
	for range 200 {
		b, err := os.ReadFile(path)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("child never wrote its pid")
	return 0
}

// waitGone waits until pid no longer runs; a zombie awaiting its new parent counts as gone.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 300 {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("child %d still running after its group was killed", pid)
}

func TestLastLine(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                   "",
		"one":                "one",
		"a\nb\n\n  \n":       "b",
		"x\r  (50/100%)\r\n": "(50/100%)",
	} {
		if got := LastLine(in); got != want {
			t.Errorf("LastLine(%q): got %q, want %q", in, got, want)
		}
	}
}
