package service

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Register records a worker (again): a re-registration keeps nothing stale.
func (s *Service) Register(ctx context.Context, r domain.Registration) (domain.Worker, error) {
	w := r.Worker(s.Now())
	w.Status = "alive"
	if err := s.store.PutWorker(ctx, w); err != nil {
		return w, fmt.Errorf("put worker %s: %w", w.WorkerID, err)
	}
	s.log.InfoContext(ctx, "worker registered", "worker_id", w.WorkerID)
	s.wakeFor(ctx, w)
	return w, nil
}

// wakeFor sends a fresh message for each queued job that waits for memory or disk this new
// worker has: such jobs were handed back by smaller workers, and their messages may sit
// delayed or with a small worker while this one idles.
func (s *Service) wakeFor(ctx context.Context, w domain.Worker) {
	jobs, err := s.allInState(ctx, domain.StateQueued)
	if err != nil {
		s.log.WarnContext(ctx, "wake queued jobs", "worker_id", w.WorkerID, "error", err)
		return
	}
	for _, j := range jobs {
		r := j.Spec.CapabilityRequirements
		sized := r.MinMemoryGB != nil || r.MinDiskSpaceGB != nil
		if sized && w.Capabilities.Missing(r, w.MemoryGB, w.DiskSpaceGB) == "" {
			s.dispatch(ctx, j, 0)
		}
	}
}

// LeaseRef names a lease a worker believes it holds.
type LeaseRef struct {
	JobID string `json:"job_id"`
	Token string `json:"token"`
}

// HeartbeatAnswer tells a worker how long its leases now last and which jobs to stop.
type HeartbeatAnswer struct {
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	Cancel         []string  `json:"cancel"`
	Lost           []string  `json:"lost"`
}

// Heartbeat marks the worker alive and renews the leases it names. A lease it no longer
// holds is reported as lost, so the worker stops that job instead of finishing it twice.
func (s *Service) Heartbeat(ctx context.Context, id string,
	leases []LeaseRef) (HeartbeatAnswer, error) {
	w, err := s.mustWorker(ctx, id)
	if err != nil {
		return HeartbeatAnswer{}, err
	}
	w.LastHeartbeat = s.Now()
	w.ActiveJobs = len(leases)
	if err := s.store.UpdateWorker(ctx, w); errors.Is(err, domain.ErrNotFound) {
		return HeartbeatAnswer{}, domain.Errorf(domain.KindNotFound,
			"worker %s is not registered", id) // unregistered meanwhile: stay gone
	} else if err != nil {
		return HeartbeatAnswer{}, fmt.Errorf("update worker %s: %w", id, err)
	}
	ans := HeartbeatAnswer{LeaseExpiresAt: s.Now().Add(s.cfg.Lease), Cancel: []string{},
		Lost: []string{}}
	for _, l := range leases {
		job, err := s.Renew(ctx, l.JobID, l.Token)
		switch {
		case IsLeaseLost(err), domain.ErrorKind(err) == domain.KindNotFound:
			ans.Lost = append(ans.Lost, l.JobID)
		case err != nil:
			return ans, err
		case job.CancelRequested:
			ans.Cancel = append(ans.Cancel, l.JobID)
		}
	}
	return ans, nil
}

// Workers lists registered workers with their status.
func (s *Service) Workers(ctx context.Context) ([]domain.Worker, error) {
	ws, err := s.store.ListWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	now := s.Now()
	for i := range ws {
		ws[i].Status = "stale"
		if ws[i].Alive(now, s.cfg.HeartbeatTimeout) {
			ws[i].Status = "alive"
		}
	}
	sort.Slice(ws, func(a, b int) bool { return ws[a].WorkerID < ws[b].WorkerID })
	return ws, nil
}

// Unregister removes a worker and gives its jobs back to the queue.
func (s *Service) Unregister(ctx context.Context, id string) (int, error) {
	if _, err := s.mustWorker(ctx, id); err != nil {
		return 0, err
	}
	if err := s.store.DeleteWorker(ctx, id); err != nil {
		return 0, fmt.Errorf("delete worker %s: %w", id, err)
	}
	held, err := s.activeJobs(ctx, func(j domain.Job) bool { return j.WorkerID == id })
	if err != nil {
		return 0, err
	}
	for _, j := range held {
		if err := s.Release(ctx, j.JobID, j.LeaseToken, "worker "+id+" unregistered"); err != nil &&
			!IsLeaseLost(err) {
			return 0, err
		}
	}
	s.log.InfoContext(ctx, "worker unregistered", "worker_id", id, "released", len(held))
	return len(held), nil
}

// activeJobs lists jobs in leased states that match keep, through the state index.
func (s *Service) activeJobs(ctx context.Context,
	keep func(domain.Job) bool) ([]domain.Job, error) {
	var out []domain.Job
	for _, st := range []domain.State{domain.StateAssigned, domain.StateRunning,
		domain.StateProgressing} {
		jobs, err := s.allInState(ctx, st)
		if err != nil {
			return nil, err
		}
		for _, j := range jobs {
			if keep(j) {
				out = append(out, j)
			}
		}
	}
	return out, nil
}

func (s *Service) allInState(ctx context.Context, st domain.State) ([]domain.Job, error) {
	var out []domain.Job
	q := domain.JobQuery{State: st, Limit: 500}
	for {
		page, err := s.store.ListJobs(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("list %s jobs: %w", st, err)
		}
		out = append(out, page.Jobs...)
		if page.Next == "" {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

// Dequeued is what an HTTP worker receives from POST /queue/dequeue.
type Dequeued struct {
	Job   domain.JobSpec `json:"job"`
	Lease Lease          `json:"lease"`
}

// Dequeue long-polls the queues a worker can serve, highest band first, and claims the
// first job it can. It returns nil when nothing came within wait.
func (s *Service) Dequeue(ctx context.Context, r domain.Registration,
	wait time.Duration) (*Dequeued, error) {
	if len(PollOrder(r.Capabilities, 0)) == 0 {
		return nil, domain.Invalid([]domain.FieldError{{Field: "capabilities",
			Message: "must include qemu_img: without it no queue can be served"}})
	}
	w, err := s.touchWorker(ctx, r)
	if err != nil {
		return nil, err
	}
	deadline := s.Now().Add(wait)
	for round := 0; ; round++ {
		left := min(deadline.Sub(s.Now()), 2*time.Second)
		got, err := s.Poll(ctx, w, round, max(left, 0))
		if err != nil {
			return nil, err
		}
		if got != nil {
			return &Dequeued{Job: got.Job.Spec, Lease: got.Lease}, nil
		}
		if !s.Now().Before(deadline) || ctx.Err() != nil {
			return nil, nil
		}
	}
}

// touchWorker records the registration a dequeue carries, keeping the first registration
// time, so the capabilities a worker polls with are the ones jobs are matched against.
func (s *Service) touchWorker(ctx context.Context, r domain.Registration) (domain.Worker, error) {
	w := r.Worker(s.Now())
	old, err := s.store.GetWorker(ctx, r.WorkerID)
	switch {
	case err == nil:
		w.RegisteredAt, w.ActiveJobs = old.RegisteredAt, old.ActiveJobs
	case !errors.Is(err, domain.ErrNotFound):
		return w, fmt.Errorf("get worker %s: %w", r.WorkerID, err)
	}
	if err := s.store.PutWorker(ctx, w); err != nil {
		return w, fmt.Errorf("put worker %s: %w", r.WorkerID, err)
	}
	return w, nil
}

// Poll looks once at every queue w serves, in PollOrder, then long-polls the first of them
// for up to wait. It returns the first job claimed, or nil.
func (s *Service) Poll(ctx context.Context, w domain.Worker, round int,
	wait time.Duration) (*ClaimResult, error) {
	keys := PollOrder(w.Capabilities, round)
	if len(keys) == 0 {
		return nil, domain.Errorf(domain.KindValidation,
			"worker %s has no capability that serves any queue (qemu_img is needed)", w.WorkerID)
	}
	for i, key := range append(keys, keys[0]) {
		pollWait := time.Duration(0)
		if i == len(keys) {
			pollWait = wait
		}
		got, err := s.pollKey(ctx, w, key, pollWait)
		if got != nil || err != nil {
			return got, err
		}
	}
	return nil, nil
}

func (s *Service) pollKey(ctx context.Context, w domain.Worker, key domain.QueueKey,
	wait time.Duration) (*ClaimResult, error) {
	msgs, err := s.queue.Receive(ctx, key, wait, 1)
	if err != nil {
		return nil, fmt.Errorf("receive %s: %w", key, err)
	}
	for _, m := range msgs {
		res, err := s.Settle(ctx, w, m)
		if err != nil {
			return nil, err
		}
		if res.Verdict == Claimed {
			return &res, nil
		}
	}
	return nil, nil
}

// Settle claims the job of a received message and disposes of the message by the verdict:
// the message is deleted once the job is claimed or stale, and sent again later otherwise,
// as a fresh message, so hand-backs never count towards the dead-letter threshold.
func (s *Service) Settle(ctx context.Context, w domain.Worker,
	m domain.Delivery) (ClaimResult, error) {
	res, err := s.Claim(ctx, w, m.Dispatch)
	if err != nil {
		return res, err
	}
	if res.Verdict == Later {
		if err := s.queue.Send(ctx, m.Key, m.Dispatch, res.Delay); err != nil {
			return res, fmt.Errorf("send %s again: %w", m.Dispatch.JobID, err)
		}
	}
	if err := s.queue.Delete(ctx, m); err != nil {
		s.log.WarnContext(ctx, "delete message", "job_id", m.Dispatch.JobID, "error", err)
	}
	return res, nil
}

// PollOrder is the order in which a worker polls its queues. High before normal before low,
// except that every fourth round starts from the lowest band: priority 1 runs first when
// workers are busy, and priority 10 still makes progress under a steady stream of urgent work.
func PollOrder(c domain.Capabilities, round int) []domain.QueueKey {
	bands := []domain.Band{domain.BandHigh, domain.BandNormal, domain.BandLow}
	if round%4 == 3 {
		bands = []domain.Band{domain.BandLow, domain.BandNormal, domain.BandHigh}
	}
	var keys []domain.QueueKey
	for _, b := range bands {
		for _, cl := range []domain.Class{domain.ClassDevice, domain.ClassBasic} {
			if c.ServesClass(cl) {
				keys = append(keys, domain.QueueKey{Band: b, Class: cl})
			}
		}
	}
	return keys
}

func (s *Service) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
