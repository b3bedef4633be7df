package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Verdict is what the queue loop does with a message after trying to claim its job.
type Verdict int

// The verdicts. The loop, not the job code, turns them into SQS calls.
const (
	// Claimed: the job is ours under a lease; the message is no longer needed.
	Claimed Verdict = iota
	// Drop: the message is stale (job gone, finished, or held by a live lease).
	Drop
	// Later: the job exists but cannot run here or yet; send it again after a delay.
	Later
)

// Lease is a worker's claim on a job.
type Lease struct {
	JobID     string    `json:"job_id"`
	Token     string    `json:"token"`
	Attempt   int       `json:"attempt"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ClaimResult is the outcome of Claim.
type ClaimResult struct {
	Verdict Verdict
	Job     domain.Job
	Lease   Lease
	Delay   time.Duration // for Later
	Reason  string
}

// Claim tries to take the job named by a queue message for worker w. Whatever the message
// says, the job record decides: the claim is a conditional write, so of any number of
// workers holding copies of the message exactly one wins.
func (s *Service) Claim(ctx context.Context, w domain.Worker,
	d domain.Dispatch) (ClaimResult, error) {
	var res ClaimResult
	token := newToken()
	job, err := s.update(ctx, d.JobID, func(j *domain.Job) ([]domain.Event, error) {
		res = s.decideClaim(j, w, token)
		if res.Verdict != Claimed {
			return nil, errNoChange
		}
		return nil, nil
	})
	if domain.ErrorKind(err) == domain.KindNotFound {
		return ClaimResult{Verdict: Drop, Reason: "job does not exist"}, nil
	}
	if err != nil || res.Verdict != Claimed {
		return res, err
	}
	res.Job = job
	res.Lease = Lease{JobID: job.JobID, Token: token, Attempt: job.Attempt,
		ExpiresAt: *job.LeaseExpiresAt}
	s.log.InfoContext(ctx, "job claimed", "job_id", job.JobID, "worker_id", w.WorkerID,
		"attempt", job.Attempt)
	return res, nil
}

// handBackDelay is how long a job a worker could not take stays out of sight before another
// worker may receive it: short, so a capable idle worker starts it soon, yet long enough that
// workers lacking the capability do not spin on it.
const handBackDelay = 5 * time.Second

// decideClaim applies the claim rules to fresh job state; only a claim is written.
func (s *Service) decideClaim(j *domain.Job, w domain.Worker, token string) ClaimResult {
	now := s.Now()
	if j.State == domain.StateRetrying {
		if j.RetryAt != nil && now.Before(*j.RetryAt) {
			return ClaimResult{Verdict: Later, Delay: j.RetryAt.Sub(now), Reason: "retry not due"}
		}
		_ = j.Enqueue(now, "retry due")
	}
	if j.State != domain.StateQueued && !j.LeaseExpired(now) {
		return ClaimResult{Verdict: Drop, Reason: "job is " + string(j.State)}
	}
	miss := w.Capabilities.Missing(j.Spec.CapabilityRequirements, w.MemoryGB, w.DiskSpaceGB)
	if miss != "" || !w.Capabilities.QemuImg {
		return ClaimResult{Verdict: Later, Delay: handBackDelay,
			Reason: "worker " + w.WorkerID + " lacks " + miss}
	}
	if err := j.Claim(w.WorkerID, token, s.cfg.Lease, s.cfg.MaxLostLeases, now); err != nil {
		return ClaimResult{Verdict: Drop, Reason: err.Error()}
	}
	return ClaimResult{Verdict: Claimed}
}

func newToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ReportEvent stores a progress report from the lease holder and returns the stored event.
// The report also renews the lease and tells the worker whether a cancel was asked for.
func (s *Service) ReportEvent(ctx context.Context, id, token string,
	r domain.EventReport) (domain.Event, bool, error) {
	var ev domain.Event
	job, err := s.update(ctx, id, func(j *domain.Job) ([]domain.Event, error) {
		var err error
		ev, err = j.Report(token, r, s.cfg.Lease, s.Now())
		return []domain.Event{ev}, err
	})
	return ev, job.CancelRequested, err
}

// Renew extends a lease; it reports whether the job's cancel was requested.
func (s *Service) Renew(ctx context.Context, id, token string) (domain.Job, error) {
	return s.update(ctx, id, func(j *domain.Job) ([]domain.Event, error) {
		return nil, j.Renew(token, s.cfg.Lease, s.Now())
	})
}

// Finish records the lease holder's result. A failure that will be retried is sent back to
// the queue with the backoff as its delay.
func (s *Service) Finish(ctx context.Context, id, token string,
	r domain.Result) (domain.Job, error) {
	job, err := s.update(ctx, id, func(j *domain.Job) ([]domain.Event, error) {
		backoff := domain.Backoff(j.Failures+1, s.cfg.RetryBase, s.cfg.RetryCeiling, s.jitter())
		ev, err := j.Finish(token, r, backoff, s.Now())
		return []domain.Event{ev}, err
	})
	if err != nil {
		return job, err
	}
	s.log.InfoContext(ctx, "job finished", "job_id", id, "state", job.State,
		"worker_id", job.WorkerID)
	if job.State == domain.StateRetrying && job.RetryAt != nil {
		s.markDispatched(ctx, job, job.RetryAt.Sub(s.Now()))
	}
	return job, nil
}

// Release gives a job back because its holder is going away (shutdown, unregister). It
// counts as a lost lease, never as a failure of the work.
func (s *Service) Release(ctx context.Context, id, token, reason string) error {
	job, err := s.update(ctx, id, func(j *domain.Job) ([]domain.Event, error) {
		if err := j.CheckLease(token); err != nil {
			return nil, err
		}
		return j.LoseLease(s.Now(), s.cfg.MaxLostLeases, reason)
	})
	if err != nil {
		return err
	}
	if job.State == domain.StateQueued {
		s.markDispatched(ctx, job, 0)
	}
	return nil
}

// IsLeaseLost reports whether err means the caller no longer holds the job.
func IsLeaseLost(err error) bool {
	return domain.ErrorKind(err) == domain.KindLeaseLost
}

var errNoWorker = errors.New("worker not registered")

func (s *Service) mustWorker(ctx context.Context, id string) (domain.Worker, error) {
	w, err := s.store.GetWorker(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return w, &domain.Error{Kind: domain.KindNotFound,
			Message: fmt.Sprintf("worker %s is not registered", id), Err: errNoWorker}
	}
	if err != nil {
		return w, fmt.Errorf("get worker %s: %w", id, err)
	}
	return w, nil
}
