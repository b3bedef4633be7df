package domain

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Job is the stored record of one job: the spec plus everything that happened to it. The
// store writes it conditionally on Version, which is what makes every change atomic.
type Job struct {
	JobID           string       `json:"job_id"`
	Spec            JobSpec      `json:"spec"`
	State           State        `json:"state"`
	StateHistory    []Transition `json:"state_history"`
	Result          *Result      `json:"result"`
	LatestEvent     *Event       `json:"latest_event"`
	Attempt         int          `json:"attempt"`
	WorkerID        string       `json:"worker_id,omitempty"`
	LeaseExpiresAt  *time.Time   `json:"lease_expires_at"`
	CancelRequested bool         `json:"cancel_requested"`
	WaitingReason   string       `json:"waiting_reason,omitempty"`
	CreatedAt       time.Time    `json:"created_at"`
	UpdatedAt       time.Time    `json:"updated_at"`
	StreamURL       string       `json:"stream_url,omitempty"`

	// Bookkeeping that clients do not see.
	Version    int64      `json:"-"`
	LeaseToken string     `json:"-"`
	LostLeases int        `json:"-"`
	Failures   int        `json:"-"`
	NextSeq    int64      `json:"-"`
	Progress   float64    `json:"-"`
	RetryAt    *time.Time `json:"-"`
	LastError  *JobError  `json:"-"`
	StartedAt  *time.Time `json:"-"`
	Dispatched *time.Time `json:"-"`

	// Ended is set, not stored, by the change that makes the job terminal, so the store can
	// count the outcome in the same transaction and metrics never need a scan.
	Ended *Outcome `json:"-"`
}

// Outcome is what metrics count about a job that reached a terminal state.
type Outcome struct {
	Operation Operation
	Status    State
	Code      ResultCode // empty unless failed
	Seconds   float64    // from the last claim to the end; 0 if it never ran
}

// Counters are the running totals behind the Prometheus counters and the duration
// histogram, kept as one item so a scrape reads a few keys instead of scanning jobs.
type Counters struct {
	// Total counts outcomes by operation and status.
	Total map[[2]string]float64
	// Failures counts failed outcomes by operation and result code.
	Failures map[[2]string]float64
	// Buckets counts durations at or below each bound of DurationBuckets.
	Buckets       map[float64]float64
	DurationSum   float64
	DurationCount float64
}

// DurationBuckets are the histogram bounds of migration_duration_seconds.
var DurationBuckets = []float64{60, 300, 600, 1800, 3600, 7200}

// ResultCode is why work failed, UPPER_SNAKE and stable: dashboards and scripts key on it.
type ResultCode string

// The result codes the product sets.
const (
	CodeValidationFailed     ResultCode = "VALIDATION_FAILED"
	CodeExecutionFailed      ResultCode = "EXECUTION_FAILED"
	CodeInputIncomplete      ResultCode = "INPUT_INCOMPLETE"
	CodeInputNotFound        ResultCode = "INPUT_NOT_FOUND"
	CodeFormatMismatch       ResultCode = "FORMAT_MISMATCH"
	CodeChecksumMismatch     ResultCode = "CHECKSUM_MISMATCH"
	CodeVerificationFailed   ResultCode = "VERIFICATION_FAILED"
	CodeInsufficientSpace    ResultCode = "INSUFFICIENT_SPACE"
	CodeTimeout              ResultCode = "TIMEOUT"
	CodeCancelled            ResultCode = "CANCELLED"
	CodeUnsupportedOperation ResultCode = "UNSUPPORTED_OPERATION"
	CodeWorkerLost           ResultCode = "WORKER_LOST"
	CodeDeadLettered         ResultCode = "DEAD_LETTERED"
	CodePathNotAllowed       ResultCode = "PATH_NOT_ALLOWED"
)

// Retryable reports whether another attempt could succeed. Bad input never gets better by
// trying again, so only execution trouble and timeouts are retried.
func (c ResultCode) Retryable() bool {
	return c == CodeExecutionFailed || c == CodeTimeout || c == CodeInsufficientSpace
}

// JobError says why a job failed.
type JobError struct {
	Phase   Phase          `json:"phase"`
	Code    ResultCode     `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// Error makes a JobError usable as an error in the worker.
func (e *JobError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Result is the outcome of a finished job.
type Result struct {
	JobID        string         `json:"job_id"`
	Status       State          `json:"status"`
	CompletedAt  time.Time      `json:"completed_at"`
	WorkerID     string         `json:"worker_id,omitempty"`
	RetryAttempt int            `json:"retry_attempt"`
	Outputs      Outputs        `json:"outputs"`
	Metrics      map[string]any `json:"metrics,omitempty"`
	Error        *JobError      `json:"error,omitempty"`
}

// Outputs lists what a job produced.
type Outputs struct {
	FixedImage    string   `json:"fixed_image,omitempty"`
	Logs          string   `json:"logs,omitempty"`
	Report        string   `json:"report,omitempty"`
	Intermediates []string `json:"intermediates,omitempty"`
}

// ParseResult decodes a worker's result report.
func ParseResult(data []byte) (Result, error) {
	var r Result
	if err := DecodeStrict(data, &r); err != nil {
		return Result{}, err
	}
	if r.Status != StateCompleted && r.Status != StateFailed {
		return Result{}, Invalid([]FieldError{{Field: "status", Message: "must be COMPLETED or FAILED"}})
	}
	if r.Status == StateFailed && (r.Error == nil || r.Error.Code == "") {
		return Result{}, Invalid([]FieldError{{Field: "error.code",
			Message: "is required when status is FAILED"}})
	}
	if r.Error != nil {
		if f := r.Error.validate(); f != nil {
			return Result{}, Invalid([]FieldError{*f})
		}
	}
	return r, nil
}

var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// validate keeps result codes and phases within their vocabularies: a code becomes a metric
// label, so free text there would split dashboards and grow series without bound.
func (e *JobError) validate() *FieldError {
	if e.Code != "" && !codePattern.MatchString(string(e.Code)) {
		return &FieldError{Field: "error.code", Message: "must be UPPER_SNAKE, at most 64 characters"}
	}
	if e.Phase != "" && !slices.Contains(phases, e.Phase) {
		return &FieldError{Field: "error.phase", Message: fmt.Sprintf("must be one of %v", phases)}
	}
	if len(e.Message) > 4096 {
		return &FieldError{Field: "error.message", Message: "must be at most 4096 bytes"}
	}
	return nil
}

// Summary is the short form of a job sent in an SSE "complete" event.
func (j *Job) Summary() map[string]any {
	out := map[string]any{"job_id": j.JobID, "state": j.State, "attempt": j.Attempt}
	if j.Result != nil {
		out["result"] = j.Result
	}
	return out
}

// MarshalSpec renders the spec for storage; specs are stored as JSON text so that open maps
// come back exactly as they went in.
func (j *Job) MarshalSpec() (string, error) {
	b, err := json.Marshal(j.Spec)
	return string(b), err
}

// Add files one stored counter, named as the store writes it ("total|convert|COMPLETED",
// "failures|convert|TIMEOUT", "bucket|60", "duration_sum", "duration_count").
func (c *Counters) Add(name string, v float64) {
	parts := strings.Split(name, "|")
	switch {
	case len(parts) == 3 && parts[0] == "total":
		c.Total[[2]string{parts[1], parts[2]}] += v
	case len(parts) == 3 && parts[0] == "failures":
		c.Failures[[2]string{parts[1], parts[2]}] += v
	case len(parts) == 2 && parts[0] == "bucket":
		if b, err := strconv.ParseFloat(parts[1], 64); err == nil {
			c.Buckets[b] += v
		}
	case name == "duration_sum":
		c.DurationSum += v
	case name == "duration_count":
		c.DurationCount += v
	}
}
