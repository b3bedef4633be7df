package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/domain"
)

// The exit codes documented in the package doc and in `h2k help`.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitAPI         = 3
	ExitCancelled   = 4
	ExitInterrupted = 130
)

// usageError is a mistake in how h2k was called; it is answered with a hint to the help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// jobEnded reports a watched job that did not complete, so its state becomes the exit code.
type jobEnded struct {
	id     string
	state  domain.State
	reason string
}

func (e *jobEnded) Error() string {
	if e.state == "" {
		return fmt.Sprintf("job %s ended, but the API did not say in which state", e.id)
	}
	msg := fmt.Sprintf("job %s ended %s", e.id, e.state)
	if e.reason != "" {
		msg += ": " + e.reason
	}
	return msg
}

// exitCode is the one place that maps an outcome to an exit code.
func exitCode(err error) int {
	var usage *usageError
	var ended *jobEnded
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &ended):
		return endCode(ended.state)
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	}
	return ExitAPI
}

func endCode(s domain.State) int {
	switch s {
	case domain.StateCompleted:
		return ExitOK
	case domain.StateFailed:
		return ExitFailed
	case domain.StateCancelled:
		return ExitCancelled
	}
	return ExitAPI
}

// report prints err for a person: the API's own message rather than Go's wrapping, because
// the envelope message is what names the job or field at fault.
func report(w io.Writer, api string, err error) {
	var apiErr *client.APIError
	var urlErr *url.Error
	var usage *usageError
	switch {
	case errors.As(err, &apiErr):
		fmt.Fprintf(w, "h2k: %s\n", apiMessage(apiErr))
		printFields(w, apiErr)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "h2k: interrupted")
	case errors.As(err, &urlErr):
		fmt.Fprintf(w, "h2k: cannot reach the API at %s: %s\n", clean(api),
			clean(urlErr.Err.Error()))
	case errors.As(err, &usage):
		fmt.Fprintf(w, "h2k: %s\nRun 'h2k help' for usage.\n", clean(usage.msg))
	default:
		// Other errors may quote the API (a stream's error event), so they are cleaned too.
		fmt.Fprintf(w, "h2k: %s\n", clean(err.Error()))
	}
}

func apiMessage(e *client.APIError) string {
	if e.Message == "" {
		return fmt.Sprintf("the API answered HTTP %d", e.Status)
	}
	return clean(e.Message)
}

// printFields lists every invalid field after the first, which the message already names,
// so a user fixes a job spec in one round trip.
func printFields(w io.Writer, e *client.APIError) {
	if len(e.Fields) < 2 {
		return
	}
	for _, raw := range e.Fields {
		var f domain.FieldError
		if err := json.Unmarshal(raw, &f); err == nil && f.Field != "" {
			fmt.Fprintf(w, "  %s: %s\n", clean(f.Field), clean(f.Message))
		}
	}
}

// clean keeps text from the API on one line and free of control characters, so a message
// cannot forge output lines or send escape sequences to the terminal.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
