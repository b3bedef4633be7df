package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// runJob executes one claimed job under its own deadline and panic guard and writes its
// verdict. Writes after a lost lease are refused by the store, so a late finish is harmless.
func (a *Agent) runJob(work context.Context, c service.ClaimResult) {
	id := c.Job.JobID
	log := a.log.With("job_id", id, "attempt", c.Lease.Attempt)
	timeout := a.cfg.JobTimeout(c.Job.Spec)
	ctx, cancel := context.WithCancelCause(work)
	defer cancel(nil)
	ctx, stopTimer := context.WithTimeoutCause(ctx, timeout, context.DeadlineExceeded)
	defer stopTimer()
	a.track(id, &runningJob{lease: c.Lease, cancel: cancel})
	defer a.untrack(id)

	log.InfoContext(ctx, "job started", "operation", c.Job.Spec.Operation)
	res, err := a.execute(ctx, c, cancel)
	verdict := a.verdict(ctx, res, err, timeout)
	if errors.Is(context.Cause(ctx), errLeaseLost) {
		log.WarnContext(ctx, "lease lost; the job is someone else's now")
		return
	}
	if errors.Is(context.Cause(ctx), errShutdown) && verdict.Status == domain.StateFailed {
		a.release(log, c.Lease, "worker shut down during the job")
		return
	}
	a.finish(log, c.Lease, verdict)
}

func (a *Agent) execute(ctx context.Context, c service.ClaimResult,
	cancel context.CancelCauseFunc) (res domain.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			a.log.ErrorContext(ctx, "job panicked", "job_id", c.Job.JobID, "panic", p,
				"stack", string(debug.Stack()))
			err = &domain.JobError{Phase: domain.PhaseFailed, Code: domain.CodeExecutionFailed,
				Message: "the worker hit an internal error running this job"}
		}
	}()
	report := a.reporter(ctx, c.Lease, cancel)
	return a.exec.Execute(ctx, c.Job.Spec, report)
}

// verdict turns the executor's outcome and the context's cause into the result to write.
func (a *Agent) verdict(ctx context.Context, res domain.Result, err error,
	timeout time.Duration) domain.Result {
	if err == nil {
		res.Status = domain.StateCompleted
		return res
	}
	res.Status = domain.StateFailed
	cause := context.Cause(ctx)
	var je *domain.JobError
	switch {
	case errors.Is(cause, errCancelRequested):
		je = &domain.JobError{Phase: domain.PhaseCancelled, Code: domain.CodeCancelled,
			Message: "cancelled on request"}
	case errors.Is(cause, context.DeadlineExceeded):
		je = &domain.JobError{Phase: domain.PhaseFailed, Code: domain.CodeTimeout,
			Message: fmt.Sprintf("the job exceeded its timeout of %s", timeout)}
	case errors.As(err, &je):
	default:
		je = &domain.JobError{Phase: domain.PhaseFailed, Code: domain.CodeExecutionFailed,
			Message: err.Error()}
	}
	res.Error = je
	return res
}

// finish writes the result. The job stays tracked while this runs, so heartbeats keep its
// lease alive through an outage of the store, and finished work is not thrown away for one
// failed write.
func (a *Agent) finish(log *slog.Logger, l service.Lease, r domain.Result) {
	err := a.persist(log, "write result", func(ctx context.Context) error {
		job, err := a.svc.Finish(ctx, l.JobID, l.Token, r)
		if err == nil {
			log.InfoContext(ctx, "job finished", "state", job.State)
		}
		return err
	})
	if err != nil {
		log.ErrorContext(context.Background(), "result not written", "error", err)
	}
}

func (a *Agent) release(log *slog.Logger, l service.Lease, reason string) {
	err := a.persist(log, "release lease", func(ctx context.Context) error {
		return a.svc.Release(ctx, l.JobID, l.Token, reason)
	})
	if err != nil && !service.IsLeaseLost(err) {
		log.ErrorContext(context.Background(), "lease not released", "error", err)
	}
}

// persist retries a write with backoff while the store is unreachable, for up to
// a.cfg.WriteRetry; answers that will not change (lease lost, not found, invalid) end it.
func (a *Agent) persist(log *slog.Logger, what string, write func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.WriteRetry)
	defer cancel()
	delay := 250 * time.Millisecond
	for {
		err := write(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		switch domain.ErrorKind(err) {
		case domain.KindUnavailable, domain.KindConflict, domain.KindInternal:
		default:
			return err
		}
		log.WarnContext(ctx, what, "error", err, "retry_in", delay)
		sleep(ctx, delay)
		delay = min(2*delay, 15*time.Second)
	}
}

// reporter sends progress; a report that finds the cancel flag or a lost lease stops the job.
func (a *Agent) reporter(ctx context.Context, l service.Lease,
	cancel context.CancelCauseFunc) Reporter {
	return func(phase domain.Phase, pct float64, msg string, details map[string]any) {
		r := domain.EventReport{Phase: phase, ProgressPercent: &pct, Message: msg, Details: details}
		_, cancelled, err := a.svc.ReportEvent(ctx, l.JobID, l.Token, r)
		switch {
		case service.IsLeaseLost(err):
			cancel(errLeaseLost)
		case err != nil:
			a.log.WarnContext(ctx, "report progress", "job_id", l.JobID, "error", err)
		case cancelled:
			cancel(errCancelRequested)
		}
	}
}

func (a *Agent) track(id string, r *runningJob) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running[id] = r
}

func (a *Agent) untrack(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.running, id)
}
