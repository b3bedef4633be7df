package imagetool

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Named conditions a caller may branch on with errors.Is. Each comes joined with the
// *domain.JobError that reports it, so errors.As finds the job error as well.
var (
	// ErrBackingFile: the image is an overlay; alone it is not the whole disk.
	ErrBackingFile = errors.New("image has a backing file")
	// ErrExternalFile: a VMDK extent or qcow2 data file lies outside the image's folder.
	ErrExternalFile = errors.New("image refers to a file outside its folder")
	// ErrUnsafeEntry: an OVA member could write outside the extraction folder.
	ErrUnsafeEntry = errors.New("unsafe archive entry")
)

// maxMessage bounds a job error message: it is stored, sent to clients and shown in UIs.
const maxMessage = 400

type namedError struct {
	name error
	job  *domain.JobError
}

func (e *namedError) Error() string   { return e.job.Error() }
func (e *namedError) Unwrap() []error { return []error{e.name, e.job} }

func named(name error, job *domain.JobError) error { return &namedError{name: name, job: job} }

func jobErr(phase domain.Phase, code domain.ResultCode, format string,
	args ...any) *domain.JobError {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	return &domain.JobError{Phase: phase, Code: code, Message: msg}
}

// stderrCodes maps what qemu-img says to why the job failed, first match wins. Tool text is
// the only interface qemu-img offers for this; LC_ALL=C keeps libc's wording stable.
var stderrCodes = []struct {
	text string
	code domain.ResultCode
}{
	{"No space left on device", domain.CodeInsufficientSpace},
	{"Disk quota exceeded", domain.CodeInsufficientSpace},
	{"File too large", domain.CodeInsufficientSpace},
	{"Input/output error", domain.CodeExecutionFailed},
	{"Cannot allocate memory", domain.CodeExecutionFailed},
	{"No such file or directory", domain.CodeInputNotFound},
	{"truncated", domain.CodeInputIncomplete},
	{"after end of file", domain.CodeInputIncomplete},
	{"after EOF", domain.CodeInputIncomplete},
	{"error while reading", domain.CodeInputIncomplete},
	{"Could not open", domain.CodeInputIncomplete},
}

func classify(stderr string, fallback domain.ResultCode) domain.ResultCode {
	for _, m := range stderrCodes {
		if strings.Contains(stderr, m.text) {
			return m.code
		}
	}
	return fallback
}

// reason picks the line of a tool's stderr that best says what went wrong: one naming a
// truncation, which qemu-img often prints above a generic last line such as "Check failed:
// Invalid argument", else the last line.
func reason(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "truncated") || strings.Contains(l, "after EOF") ||
			strings.Contains(l, "after end of file") {
			return strings.TrimSpace(l)
		}
	}
	return LastLine(stderr)
}

// contextError reports why ctx ended in job terms: a deadline is a timeout, anything else a
// cancel.
func contextError(ctx context.Context, phase domain.Phase) *domain.JobError {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return jobErr(phase, domain.CodeTimeout, "%s stopped: time limit reached", phase)
	}
	return jobErr(phase, domain.CodeCancelled, "%s stopped: job cancelled", phase)
}

// toolError turns a Runner error into a job error. what names the step ("qemu-img convert"),
// fallback is the code for a failure the tool text does not explain, and names maps the
// paths the job used to the short names clients may see.
func toolError(ctx context.Context, phase domain.Phase, what string, err error,
	fallback domain.ResultCode, names pathNames) *domain.JobError {
	if ctx.Err() != nil {
		return contextError(ctx, phase) // a stopped job is cancelled, whatever the tool said
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		return jobErr(phase, domain.CodeExecutionFailed, "%s: %s", what, names.clean(err.Error()))
	}
	line := strings.TrimPrefix(reason(ee.Stderr), "qemu-img: ")
	if line == "" {
		line = ee.State
	}
	je := jobErr(phase, classify(ee.Stderr, fallback), "%s: %s", what, names.clean(line))
	je.Details = map[string]any{"tool": ee.Name, "exit_status": ee.Code}
	return je
}

// osError reports a failed file operation of the worker itself.
func osError(phase domain.Phase, what string, err error, names pathNames) *domain.JobError {
	code := domain.CodeExecutionFailed
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		code = domain.CodeInsufficientSpace
	}
	return jobErr(phase, code, "%s: %s", what, names.clean(err.Error()))
}

// pathNames maps full paths (and the json: specs built from them) to what a message may
// show. Error text must not reveal the host's layout or other jobs' paths.
type pathNames map[string]string

// names builds pathNames that shorten each path to its base name.
func names(paths ...string) pathNames {
	n := pathNames{}
	for _, p := range paths {
		if p != "" {
			n[p] = filepath.Base(p)
		}
	}
	return n
}

func (n pathNames) with(long, short string) pathNames {
	n[long] = short
	return n
}

var absPath = regexp.MustCompile(`(^|[\s'"(=])(/[^\s'",)]+)`)

// clean replaces the known paths, longest first, then shortens any other absolute path.
func (n pathNames) clean(s string) string {
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, n[k])
	}
	return absPath.ReplaceAllStringFunc(s, func(m string) string {
		i := strings.IndexByte(m, '/')
		return m[:i] + filepath.Base(m[i:])
	})
}
