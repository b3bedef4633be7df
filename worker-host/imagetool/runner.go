package imagetool

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// stderrTail is how much of a tool's stderr is kept for error messages: enough for the last
// few lines, bounded so a chatty tool cannot grow the worker's memory.
const stderrTail = 4096

// Command is one run of an external program. Stdout and Stderr may be nil; the runner keeps
// the tail of stderr either way, so that a failure can say what the tool said.
type Command struct {
	Name   string
	Args   []string
	Dir    string
	Env    []string // added to the worker's own environment
	Stdout io.Writer
	Stderr io.Writer
}

// Runner runs external programs. It is the seam tests use to replace qemu-img with a fake
// whose timing and failures they control.
type Runner interface {
	// Run starts cmd, waits for it and returns nil only when it exits 0. A non-zero exit is
	// an *ExitError; when ctx ends first, Run stops the program and returns an error that
	// wraps ctx.Err().
	Run(ctx context.Context, cmd Command) error
}

// ExitError reports a program that ran and did not exit 0, with the end of what it wrote to
// stderr: qemu-img puts its reason on the last line.
type ExitError struct {
	Name   string
	Code   int    // exit status, or -1 when a signal ended it
	State  string // "exit status 2", "signal: killed"
	Stderr string // the tail of stderr
}

// Error names the tool, how it ended and its last stderr line.
func (e *ExitError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Name, e.State, LastLine(e.Stderr))
}

// LastLine returns the last non-blank line of s, trimmed: for most tools the line that says
// why they gave up.
func LastLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
