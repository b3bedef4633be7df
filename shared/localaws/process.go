package localaws

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// stopGrace is how long a service gets to exit on SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// killWait bounds the wait after SIGKILL; only a process stuck in the kernel outlives it.
	killWait = 5 * time.Second
	// tailLines is how much of a service's output an error quotes.
	tailLines = 20
)

// proc is one service process, in a process group of its own so that stopping it also stops
// anything it spawned.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *outputTail
	done chan struct{} // closed once Wait has returned
	err  error         // Wait's result, readable after done
}

// launch starts argv with env added to this process's environment. The reaper goroutine is
// owned by the proc: stop waits for it.
func launch(name string, argv, env []string, log *slog.Logger) (*proc, error) {
	out := &outputTail{log: log.With("service", name)}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	// Bounds the wait for output copying if a stray descendant keeps the pipe open.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	log.Debug("service process started", "service", name, "pid", cmd.Process.Pid)
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process group to exit, kills it after stopGrace, and waits for the reaper.
func (p *proc) stop(log *slog.Logger) error {
	if p.exited() {
		return nil
	}
	began := time.Now()
	defer func() {
		log.Debug("service process stopped", "service", p.name,
			"duration", time.Since(began).Round(time.Millisecond))
	}()
	signalGroup(p.cmd.Process, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	log.Warn("service ignored SIGTERM, killing it", "service", p.name, "grace", stopGrace)
	signalGroup(p.cmd.Process, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("stop %s: pid %d still running after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// exitError describes a process that ended on its own, quoting its last output.
func (p *proc) exitError() error {
	err := p.err
	if err == nil {
		err = errors.New("exit status 0")
	}
	return p.withOutput(fmt.Errorf("exited early: %w", err))
}

// withOutput appends the last lines the process printed, which usually say what went wrong.
func (p *proc) withOutput(err error) error {
	out := p.out.String()
	if out == "" {
		return err
	}
	return fmt.Errorf("%w; %s said:\n%s", err, p.name, out)
}

// outputTail logs each line a service prints at debug level and keeps the last few for error
// messages.
type outputTail struct {
	log     *slog.Logger
	mu      sync.Mutex
	partial []byte
	lines   []string
}

func (t *outputTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		t.add(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
}

func (t *outputTail) add(line string) {
	line = strings.TrimRight(line, "\r")
	t.log.Debug(line)
	t.lines = append(t.lines, line)
	if len(t.lines) > tailLines {
		t.lines = t.lines[len(t.lines)-tailLines:]
	}
}

// String returns the kept lines plus any unterminated last line.
func (t *outputTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	all := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		all = append(all, string(t.partial))
	}
	return strings.Join(all, "\n")
}
