//go:build unix

package imagetool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is how long a cancelled tool gets to exit after SIGTERM before SIGKILL.
const DefaultGrace = 5 * time.Second

// ExecRunner runs programs as real processes. Each gets its own process group, so that a
// cancel reaches anything the tool started itself, and every child is reaped.
type ExecRunner struct {
	// Grace is the time between SIGTERM and SIGKILL on cancel; zero means DefaultGrace.
	Grace time.Duration
	// Logger records forced stops; nil discards them.
	Logger *slog.Logger
}

var _ Runner = (*ExecRunner)(nil)

// Run starts c and waits for it; see Runner.
func (r *ExecRunner) Run(ctx context.Context, c Command) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("run %s: %w", c.Name, err)
	}
	tail := &tailBuffer{max: stderrTail}
	cmd := exec.Command(c.Name, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdout = c.Stdout
	cmd.Stderr = tail
	if c.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, c.Stderr)
	}
	cmd.SysProcAttr = procAttr()
	// A grandchild holding our pipes open must not keep Wait from returning.
	cmd.WaitDelay = r.grace()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	stop := r.watch(ctx, c.Name, cmd.Process.Pid)
	err := cmd.Wait()
	signalled := stop()
	return verdict(ctx, c.Name, err, tail, signalled)
}

func (r *ExecRunner) grace() time.Duration {
	if r.Grace > 0 {
		return r.Grace
	}
	return DefaultGrace
}

// watch stops the process group when ctx ends. The returned function ends the watcher,
// kills whatever is left in the group and reports whether ctx had to stop the program.
func (r *ExecRunner) watch(ctx context.Context, name string, pgid int) func() bool {
	exited := make(chan struct{})
	signalled := false
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-exited:
			return
		case <-ctx.Done():
		}
		signalled = true
		r.terminate(name, pgid, exited)
	})
	return func() bool {
		close(exited)
		wg.Wait()
		// Stragglers the tool left behind die with it. The group id cannot be reused while
		// any member lives, and pid reuse within this window would need a full pid wrap.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		return signalled
	}
}

// terminate asks the group to stop, then forces it after the grace period.
func (r *ExecRunner) terminate(name string, pgid int, exited <-chan struct{}) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(r.grace())
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		if r.Logger != nil {
			r.Logger.Warn("tool ignored SIGTERM, killing it", "tool", name, "pid", pgid)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// verdict turns the outcome of Wait into Run's result. A stop caused by ctx wins over the
// exit status it produced, so callers see the cancellation rather than "signal: terminated".
func verdict(ctx context.Context, name string, err error, tail *tailBuffer, stopped bool) error {
	if stopped {
		return fmt.Errorf("%s stopped: %w", name, ctx.Err())
	}
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Name: name, Code: ee.ExitCode(), State: ee.ProcessState.String(),
			Stderr: tail.String()}
	}
	return fmt.Errorf("wait %s: %w", name, err)
}
