package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Submitted is the outcome of a submit.
type Submitted struct {
	Job           domain.Job
	Created       bool // false: an identical job already existed
	QueuePosition int
}

// Submit stores a new job, queueing it at once when asked. Resubmitting the same spec under
// the same id returns the existing job without a second message; a different spec is a
// conflict, because silently replacing a job someone is watching would be worse.
func (s *Service) Submit(ctx context.Context, spec domain.JobSpec, queue bool) (Submitted, error) {
	now := s.Now()
	job := domain.NewJob(spec, now)
	if queue {
		if err := job.Enqueue(now, "queued at submit"); err != nil {
			return Submitted{}, err
		}
	}
	err := s.store.CreateJob(ctx, &job)
	if errors.Is(err, domain.ErrAlreadyExists) {
		return s.resubmit(ctx, spec, queue)
	}
	if err != nil {
		return Submitted{}, fmt.Errorf("create job %s: %w", spec.JobID, err)
	}
	s.log.InfoContext(ctx, "job submitted", "job_id", job.JobID, "state", job.State)
	if queue {
		job = s.markDispatched(ctx, job, 0)
	}
	return Submitted{Job: job, Created: true, QueuePosition: s.position(ctx, job)}, nil
}

// resubmit answers a submit whose id exists: the same job again (queued now if asked and it
// was only validated before), or a conflict.
func (s *Service) resubmit(ctx context.Context, spec domain.JobSpec,
	queue bool) (Submitted, error) {
	old, err := s.getJob(ctx, spec.JobID)
	if err != nil {
		return Submitted{}, err
	}
	if !old.Spec.SameAs(spec) {
		return Submitted{}, domain.Errorf(domain.KindConflict,
			"job %s already exists with a different spec", spec.JobID)
	}
	if queue && old.State == domain.StateValidated {
		if old, err = s.Queue(ctx, spec.JobID); err != nil {
			return Submitted{}, err
		}
	}
	return Submitted{Job: old, QueuePosition: s.position(ctx, old)}, nil
}

// markDispatched sends the message and records that it was sent. If the record cannot be
// written the message still went out; the sweeper may send a harmless duplicate later.
func (s *Service) markDispatched(ctx context.Context, job domain.Job,
	delay time.Duration) domain.Job {
	if !s.dispatch(ctx, job, delay) {
		return job
	}
	updated, err := s.update(ctx, job.JobID, func(j *domain.Job) ([]domain.Event, error) {
		at := s.Now()
		j.Dispatched = &at
		return nil, nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "record dispatch", "job_id", job.JobID, "error", err)
		return job
	}
	return updated
}

// position estimates how many queued jobs are ahead; it is advisory only.
func (s *Service) position(ctx context.Context, job domain.Job) int {
	if job.State != domain.StateQueued {
		return 0
	}
	n, err := s.store.CountJobs(ctx, domain.StateQueued)
	if err != nil {
		return 0
	}
	return n
}

// Get returns a job, with the reason it waits when it is queued.
func (s *Service) Get(ctx context.Context, id string) (domain.Job, error) {
	job, err := s.getJob(ctx, id)
	if err != nil {
		return job, err
	}
	if job.State == domain.StateQueued || job.State == domain.StateRetrying {
		job.WaitingReason = s.waitingReason(ctx, job)
	}
	return job, nil
}

// waitingReason tells a user why a queued job is not running, computed from the live worker
// registry so it is never stale.
func (s *Service) waitingReason(ctx context.Context, job domain.Job) string {
	if job.State == domain.StateRetrying && job.RetryAt != nil {
		return "waiting to retry at " + job.RetryAt.Format(time.RFC3339)
	}
	workers, err := s.store.ListWorkers(ctx)
	if err != nil {
		return "worker registry unavailable"
	}
	now, alive, lacking := s.Now(), 0, ""
	for _, w := range workers {
		if !w.Alive(now, s.cfg.HeartbeatTimeout) {
			continue
		}
		alive++
		miss := w.Capabilities.Missing(job.Spec.CapabilityRequirements, w.MemoryGB, w.DiskSpaceGB)
		if miss == "" && w.Capabilities.QemuImg {
			return "waiting for a free worker"
		}
		if miss == "" {
			miss = "qemu_img"
		}
		lacking = miss
	}
	if alive == 0 {
		return "no alive worker"
	}
	return "no alive worker with " + lacking
}

// List returns a page of jobs, newest first.
func (s *Service) List(ctx context.Context, q domain.JobQuery) (domain.JobPage, error) {
	page, err := s.store.ListJobs(ctx, q)
	if err != nil {
		return page, fmt.Errorf("list jobs: %w", err)
	}
	return page, nil
}

// Queue moves a job created without ?queue=true into the queue.
func (s *Service) Queue(ctx context.Context, id string) (domain.Job, error) {
	job, err := s.update(ctx, id, func(j *domain.Job) ([]domain.Event, error) {
		if j.State != domain.StateValidated {
			return nil, domain.Errorf(domain.KindInvalidTransition,
				"job %s is %s; only a VALIDATED job can be queued", id, j.State)
		}
		return nil, j.Enqueue(s.Now(), "queued on request")
	})
	if err != nil {
		return job, err
	}
	return s.markDispatched(ctx, job, 0), nil
}

// Cancel cancels a job: at once when no worker holds it, otherwise by telling the worker.
func (s *Service) Cancel(ctx context.Context, id string) (domain.Job, bool, error) {
	var immediate bool
	job, err := s.update(ctx, id, func(j *domain.Job) ([]domain.Event, error) {
		if j.State.Active() && j.CancelRequested {
			return nil, errNoChange // asked already: answering again changes nothing
		}
		now, ev, err := j.Cancel(s.Now())
		immediate = now
		if err != nil || !now {
			return nil, err
		}
		return []domain.Event{ev}, nil
	})
	if err == nil {
		s.log.InfoContext(ctx, "cancel", "job_id", id, "state", job.State, "immediate", immediate)
	}
	return job, immediate, err
}

// Events returns a job's progress events after a cursor.
func (s *Service) Events(ctx context.Context, q domain.EventQuery) ([]domain.Event, error) {
	if _, err := s.getJob(ctx, q.JobID); err != nil {
		return nil, err
	}
	return s.EventsOfKnownJob(ctx, q)
}

// EventsOfKnownJob is Events without the existence check, for a stream that checked once
// and then polls every 100 ms: one read per poll instead of two.
func (s *Service) EventsOfKnownJob(ctx context.Context,
	q domain.EventQuery) ([]domain.Event, error) {
	evs, err := s.store.ListEvents(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list events %s: %w", q.JobID, err)
	}
	return evs, nil
}
