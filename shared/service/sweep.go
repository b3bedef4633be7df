package service

import (
	"context"
	"fmt"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// SweepReport counts what one sweep did.
type SweepReport struct {
	Requeued     int `json:"requeued"`
	WorkerLost   int `json:"worker_lost"`
	Redispatched int `json:"redispatched"`
	DeadLettered int `json:"dead_lettered"`
}

// Sweep recovers from crashes: jobs whose lease ran out go back to the queue (or fail with
// WORKER_LOST), due retries and queued jobs whose message may be lost are dispatched again.
// It runs on a schedule in AWS and on a ticker in the local stack; running it twice at once
// is safe because every change is a conditional write.
func (s *Service) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	expired, err := s.activeJobs(ctx, func(j domain.Job) bool { return j.LeaseExpired(s.Now()) })
	if err != nil {
		return rep, err
	}
	for _, j := range expired {
		if err := s.expire(ctx, j, &rep); err != nil {
			return rep, err
		}
	}
	if err := s.redispatch(ctx, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

func (s *Service) expire(ctx context.Context, stale domain.Job, rep *SweepReport) error {
	job, err := s.update(ctx, stale.JobID, func(j *domain.Job) ([]domain.Event, error) {
		if !j.LeaseExpired(s.Now()) {
			return nil, errNoChange
		}
		reason := fmt.Sprintf("lease of worker %s expired", j.WorkerID)
		return j.LoseLease(s.Now(), s.cfg.MaxLostLeases, reason)
	})
	if err != nil {
		return err
	}
	switch job.State {
	case domain.StateQueued:
		rep.Requeued++
		s.markDispatched(ctx, job, 0)
	case domain.StateFailed:
		rep.WorkerLost++
	}
	s.log.InfoContext(ctx, "lease expired", "job_id", job.JobID, "state", job.State)
	return nil
}

// redispatch sends a message for queued jobs that have none known and for due retries.
func (s *Service) redispatch(ctx context.Context, rep *SweepReport) error {
	now := s.Now()
	for _, st := range []domain.State{domain.StateQueued, domain.StateRetrying} {
		jobs, err := s.allInState(ctx, st)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if s.needsDispatch(j, now) {
				s.markDispatched(ctx, j, 0)
				rep.Redispatched++
			}
		}
	}
	return nil
}

func (s *Service) needsDispatch(j domain.Job, now time.Time) bool {
	if j.State == domain.StateRetrying && (j.RetryAt == nil || now.Before(*j.RetryAt)) {
		return false
	}
	last := j.UpdatedAt
	if j.Dispatched != nil {
		last = *j.Dispatched
	}
	return now.Sub(last) >= s.cfg.RedispatchAfter
}

// DeadLetter fails the job of a message that SQS gave up on, unless a live worker holds it.
func (s *Service) DeadLetter(ctx context.Context, d domain.Dispatch, receives int) error {
	_, err := s.update(ctx, d.JobID, func(j *domain.Job) ([]domain.Event, error) {
		if j.State.Terminal() || (j.State.Active() && !j.LeaseExpired(s.Now())) {
			return nil, errNoChange
		}
		ev, err := j.Fail(domain.CodeDeadLettered, domain.PhaseFailed, fmt.Sprintf(
			"the job's queue message was received %d times without the job finishing", receives),
			s.Now())
		return []domain.Event{ev}, err
	})
	if domain.ErrorKind(err) == domain.KindNotFound {
		return nil
	}
	return err
}

// DrainDeadLetters handles every message waiting in the dead-letter queues; the local stack
// runs it where AWS would trigger the dead-letter function.
func (s *Service) DrainDeadLetters(ctx context.Context) (int, error) {
	n := 0
	for _, key := range domain.AllQueueKeys() {
		msgs, err := s.queue.ReceiveDead(ctx, key, 10)
		if err != nil {
			return n, fmt.Errorf("receive dead letters %s: %w", key, err)
		}
		for _, m := range msgs {
			if err := s.DeadLetter(ctx, m.Dispatch, m.ReceiveCount); err != nil {
				return n, err
			}
			if err := s.queue.Delete(ctx, m); err != nil {
				return n, fmt.Errorf("delete dead letter: %w", err)
			}
			n++
		}
	}
	return n, nil
}

// QueueStatus is the body of GET /queue.
type QueueStatus struct {
	TotalJobs   int            `json:"total_jobs"`
	ByPriority  map[string]int `json:"by_priority"`
	InFlight    int            `json:"in_flight"`
	Delayed     int            `json:"delayed"`
	DeadLetter  int            `json:"dead_letter"`
	QueuedJobs  int            `json:"queued_jobs"`
	ByQueue     map[string]int `json:"by_queue"`
	RetryingNow int            `json:"retrying"`
}

// Queue status reports SQS's approximate counts next to the store's count of queued jobs.
func (s *Service) QueueStatus(ctx context.Context) (QueueStatus, error) {
	st, err := s.queue.Stats(ctx)
	if err != nil {
		return QueueStatus{}, fmt.Errorf("queue stats: %w", err)
	}
	out := QueueStatus{ByPriority: map[string]int{}, ByQueue: map[string]int{}}
	for k, n := range st.Visible {
		out.TotalJobs += n
		out.ByPriority[string(k.Band)] += n
		out.ByQueue[k.String()] = n
	}
	for _, n := range st.InFlight {
		out.InFlight += n
	}
	for _, n := range st.Delayed {
		out.Delayed += n
	}
	for _, n := range st.DeadLetter {
		out.DeadLetter += n
	}
	if out.QueuedJobs, err = s.store.CountJobs(ctx, domain.StateQueued); err != nil {
		return out, fmt.Errorf("count queued: %w", err)
	}
	if out.RetryingNow, err = s.store.CountJobs(ctx, domain.StateRetrying); err != nil {
		return out, fmt.Errorf("count retrying: %w", err)
	}
	return out, nil
}

// Health is the body of GET /health.
type Health struct {
	Status     string    `json:"status"`
	Version    string    `json:"version"`
	Timestamp  time.Time `json:"timestamp"`
	Workers    int       `json:"workers"`
	ActiveJobs int       `json:"active_jobs"`
	Problems   []string  `json:"problems,omitempty"`
}

// Health checks both dependencies; the caller answers 503 when Status is not "healthy".
func (s *Service) Health(ctx context.Context) Health {
	h := Health{Status: "healthy", Version: s.cfg.Version, Timestamp: s.Now()}
	if err := s.store.Ping(ctx); err != nil {
		h.Problems = append(h.Problems, "dynamodb unreachable")
	}
	if err := s.queue.Ping(ctx); err != nil {
		h.Problems = append(h.Problems, "sqs unreachable")
	}
	if len(h.Problems) > 0 {
		h.Status = "unhealthy"
		return h
	}
	if ws, err := s.Workers(ctx); err == nil {
		for _, w := range ws {
			if w.Status == "alive" {
				h.Workers++
			}
		}
	}
	for _, st := range []domain.State{domain.StateAssigned, domain.StateRunning,
		domain.StateProgressing} {
		if n, err := s.store.CountJobs(ctx, st); err == nil {
			h.ActiveJobs += n
		}
	}
	return h
}
