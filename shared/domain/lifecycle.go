package domain

import (
	"fmt"
	"math"
	"time"
)

// The functions in this file are the job lifecycle as pure changes of a Job value. The
// service reads a job, applies one of them and writes it back on the condition that the
// version is unchanged; a lost race re-reads and re-applies, so the rules run on fresh state.

// NewJob creates a validated job from a parsed spec.
func NewJob(spec JobSpec, now time.Time) Job {
	now = now.UTC()
	j := Job{JobID: spec.JobID, Spec: spec, State: StateCreated, CreatedAt: now, UpdatedAt: now}
	_ = j.MoveTo(StateValidated, now, "spec validated")
	return j
}

// Enqueue moves a validated or retrying job to QUEUED.
func (j *Job) Enqueue(now time.Time, reason string) error {
	if j.State == StateQueued {
		return nil
	}
	if err := j.MoveTo(StateQueued, now, reason); err != nil {
		return err
	}
	j.RetryAt = nil
	return nil
}

// LeaseExpired reports whether an active job's lease has run out.
func (j *Job) LeaseExpired(now time.Time) bool {
	return j.State.Active() && j.LeaseExpiresAt != nil && !now.Before(*j.LeaseExpiresAt)
}

// Claim gives the job to a worker under a new lease. A job whose previous lease ran out is
// taken over: that counts as a lost lease, not as a failure of the work.
func (j *Job) Claim(workerID, token string, lease time.Duration, maxLost int, now time.Time) error {
	if j.LeaseExpired(now) {
		// A take-over that ends the job (cancel pending, too many lost leases) is left to
		// the sweeper, which stores the closing event; here it is simply not claimable.
		evs, err := j.LoseLease(now, maxLost, "lease expired; taken over by "+workerID)
		if err != nil || len(evs) > 0 {
			return &Error{Kind: KindConflict, Message: "job " + j.JobID + " ended"}
		}
	}
	if j.State != StateQueued {
		return &Error{Kind: KindConflict, Message: fmt.Sprintf("job %s is %s, not QUEUED",
			j.JobID, j.State)}
	}
	if err := j.MoveTo(StateAssigned, now, "claimed by "+workerID); err != nil {
		return err
	}
	exp := now.Add(lease).UTC()
	j.Attempt++
	j.WorkerID, j.LeaseToken, j.LeaseExpiresAt = workerID, token, &exp
	j.Progress, j.WaitingReason = 0, ""
	started := now.UTC()
	j.StartedAt = &started
	return nil
}

// CheckLease refuses a write from anyone but the current lease holder: the fencing rule that
// keeps a worker which lost its lease from overwriting the new owner's work.
func (j *Job) CheckLease(token string) error {
	if !j.State.Active() || token == "" || token != j.LeaseToken {
		return &Error{Kind: KindLeaseLost, Message: fmt.Sprintf(
			"the lease on job %s is not held by this token (state %s)", j.JobID, j.State)}
	}
	return nil
}

// Renew extends the holder's lease.
func (j *Job) Renew(token string, lease time.Duration, now time.Time) error {
	if err := j.CheckLease(token); err != nil {
		return err
	}
	exp := now.Add(lease).UTC()
	j.LeaseExpiresAt = &exp
	j.UpdatedAt = now.UTC()
	return nil
}

// NewEvent assigns the next seq and records the event as the latest one.
func (j *Job) NewEvent(phase Phase, pct float64, msg string, details map[string]any,
	now time.Time) Event {
	j.NextSeq++
	ev := Event{JobID: j.JobID, Seq: j.NextSeq, Timestamp: now.UTC(), Phase: phase,
		ProgressPercent: pct, Message: msg, Details: details}
	j.LatestEvent = &ev
	return ev
}

// Report records a progress report from the lease holder. The first report moves the job to
// RUNNING, later ones to PROGRESSING; the percentage never goes backwards within an attempt.
func (j *Job) Report(token string, r EventReport, lease time.Duration,
	now time.Time) (Event, error) {
	if err := j.Renew(token, lease, now); err != nil {
		return Event{}, err
	}
	to := StateProgressing
	if j.State == StateAssigned {
		to = StateRunning
	}
	if err := j.MoveTo(to, now, "worker reported "+string(r.Phase)); err != nil {
		return Event{}, err
	}
	pct := j.Progress
	if r.ProgressPercent != nil && *r.ProgressPercent > pct {
		pct = math.Min(math.Round(*r.ProgressPercent*100)/100, 100)
	}
	j.Progress = pct
	return j.NewEvent(r.Phase, pct, r.Message, r.Details, now), nil
}

// Finish records the holder's result. A failure with attempts left goes to RETRYING with a
// backoff; a cancelled job that stopped ends CANCELLED whatever the worker said.
func (j *Job) Finish(token string, r Result, backoff time.Duration, now time.Time) (Event, error) {
	if err := j.CheckLease(token); err != nil {
		return Event{}, err
	}
	r.JobID, r.WorkerID, r.RetryAttempt = j.JobID, j.WorkerID, j.Attempt-1
	r.CompletedAt = now.UTC()
	if j.State == StateAssigned {
		// The worker ran (and maybe failed at once) without reporting progress first.
		if err := j.MoveTo(StateRunning, now, "worker reported its result"); err != nil {
			return Event{}, err
		}
	}
	if j.CancelRequested && r.Status == StateFailed {
		return j.end(StateCancelled, cancelledResult(r), now)
	}
	if r.Status == StateCompleted {
		return j.end(StateCompleted, r, now)
	}
	j.Failures++
	j.LastError = r.Error
	if r.Error.Code.Retryable() && j.Failures <= j.Spec.RetryCount() {
		return j.retry(r, backoff, now)
	}
	return j.end(StateFailed, r, now)
}

func cancelledResult(r Result) Result {
	r.Status = StateCancelled
	r.Error = &JobError{Phase: PhaseCancelled, Code: CodeCancelled, Message: "cancelled on request"}
	return r
}

func (j *Job) retry(r Result, backoff time.Duration, now time.Time) (Event, error) {
	at := now.Add(backoff).UTC()
	reason := fmt.Sprintf("attempt %d failed (%s); retry %d of %d at %s", j.Attempt, r.Error.Code,
		j.Failures, j.Spec.RetryCount(), at.Format(time.RFC3339))
	if err := j.MoveTo(StateRetrying, now, reason); err != nil {
		return Event{}, err
	}
	j.clearLease()
	j.RetryAt = &at
	return j.NewEvent(PhaseFailed, j.Progress, reason, nil, now), nil
}

// end moves the job to a terminal state with its result and a closing event.
func (j *Job) end(to State, r Result, now time.Time) (Event, error) {
	reason := "worker finished"
	if r.Error != nil {
		reason = fmt.Sprintf("%s: %s", r.Error.Code, r.Error.Message)
	}
	if err := j.MoveTo(to, now, reason); err != nil {
		return Event{}, err
	}
	r.Status = to
	j.Result = &r
	j.clearLease()
	j.Ended = &Outcome{Operation: j.Spec.Operation, Status: to}
	if r.Error != nil && to == StateFailed {
		j.Ended.Code = r.Error.Code
	}
	if j.StartedAt != nil {
		j.Ended.Seconds = now.Sub(*j.StartedAt).Seconds()
	}
	phase, pct := PhaseFailed, j.Progress
	switch to {
	case StateCompleted:
		phase, pct, reason = PhaseCompleted, 100, "job completed"
	case StateCancelled:
		phase = PhaseCancelled
	}
	return j.NewEvent(phase, pct, reason, nil, now), nil
}

func (j *Job) clearLease() {
	j.LeaseToken, j.LeaseExpiresAt = "", nil
}

// Fail ends a job that is not held by a worker (dead-lettered, retries exhausted).
func (j *Job) Fail(code ResultCode, phase Phase, msg string, now time.Time) (Event, error) {
	r := Result{JobID: j.JobID, Status: StateFailed, WorkerID: j.WorkerID, CompletedAt: now.UTC(),
		RetryAttempt: max(j.Attempt-1, 0), Error: &JobError{Phase: phase, Code: code, Message: msg}}
	return j.end(StateFailed, r, now)
}

// LoseLease puts a job whose worker vanished back in the queue, or fails it with WORKER_LOST
// once that has happened maxLost times, so a job that kills its workers cannot loop forever.
// A job whose cancel was pending ends CANCELLED instead: the user's order outlives the
// worker. It returns the closing event when the job ended.
func (j *Job) LoseLease(now time.Time, maxLost int, reason string) ([]Event, error) {
	if !j.State.Active() {
		return nil, nil
	}
	j.LostLeases++
	var ev Event
	var err error
	switch {
	case j.CancelRequested:
		r := cancelledResult(Result{JobID: j.JobID, WorkerID: j.WorkerID, CompletedAt: now.UTC(),
			RetryAttempt: max(j.Attempt-1, 0)})
		ev, err = j.end(StateCancelled, r, now)
	case j.LostLeases >= maxLost:
		ev, err = j.Fail(CodeWorkerLost, PhaseFailed, fmt.Sprintf(
			"the worker was lost %d times; last: %s", j.LostLeases, reason), now)
	default:
		if err := j.MoveTo(StateQueued, now, "lease lost: "+reason); err != nil {
			return nil, err
		}
		j.clearLease()
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

// Cancel applies DELETE /jobs/{id}. It returns true when the job is CANCELLED at once, false
// when a worker holds it and has to be told.
func (j *Job) Cancel(now time.Time) (bool, Event, error) {
	if j.State.Terminal() {
		return false, Event{}, &Error{Kind: KindInvalidTransition, Message: fmt.Sprintf(
			"job %s is already %s and cannot be cancelled", j.JobID, j.State)}
	}
	if j.State.Active() {
		j.CancelRequested = true
		j.UpdatedAt = now.UTC()
		return false, Event{}, nil
	}
	r := Result{Status: StateCancelled, Error: &JobError{Phase: PhaseCancelled,
		Code: CodeCancelled, Message: "cancelled before it ran"}, JobID: j.JobID,
		CompletedAt: now.UTC()}
	ev, err := j.end(StateCancelled, r, now)
	return true, ev, err
}

// Backoff is the delay before retry number n (1-based): exponential from base, capped, with
// jitter in [-0.2, 0.2] of the delay so that retries from one outage do not arrive together.
func Backoff(n int, base, ceiling time.Duration, jitter float64) time.Duration {
	d := float64(base) * math.Pow(2, float64(max(n-1, 0)))
	d = math.Min(d, float64(ceiling))
	return time.Duration(d * (1 + 0.2*math.Max(-1, math.Min(1, jitter))))
}
