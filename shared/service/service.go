// Package service is the job lifecycle as the API and the worker host both use it: submit,
// claim, report, finish, cancel, sweep. It speaks only to the domain's Store and Queue
// interfaces, so the same lease rules hold whether a worker reaches SQS and DynamoDB
// directly or only the HTTP API.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Config holds the lifecycle's timing rules.
type Config struct {
	// Lease is how long a claim lasts without renewal.
	Lease time.Duration
	// HeartbeatTimeout is how long a worker stays alive without a heartbeat.
	HeartbeatTimeout time.Duration
	// MaxLostLeases ends a job with WORKER_LOST after this many lost leases.
	MaxLostLeases int
	// RetryBase and RetryCeiling bound the exponential retry backoff.
	RetryBase, RetryCeiling time.Duration
	// RedispatchAfter is how long a QUEUED job may go without a queue message being known
	// to exist before the sweeper sends another one.
	RedispatchAfter time.Duration
	// EventTTL is how long progress events are kept.
	EventTTL time.Duration
	// Version is reported by /health.
	Version string
}

// WithDefaults fills zero values with the protocol's defaults and checks the rest, so a
// misconfigured function fails at start, not on its first request.
func (c Config) WithDefaults() (Config, error) {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&c.Lease, 2*time.Minute)
	set(&c.HeartbeatTimeout, 300*time.Second)
	set(&c.RetryBase, 30*time.Second)
	set(&c.RetryCeiling, 15*time.Minute)
	set(&c.RedispatchAfter, 10*time.Minute)
	set(&c.EventTTL, 30*24*time.Hour)
	if c.MaxLostLeases == 0 {
		c.MaxLostLeases = 3
	}
	if c.Version == "" {
		c.Version = "v1"
	}
	if c.Lease < time.Second || c.MaxLostLeases < 1 || c.RetryCeiling < c.RetryBase {
		return c, fmt.Errorf("service config: lease %s, max lost leases %d, retry %s..%s",
			c.Lease, c.MaxLostLeases, c.RetryBase, c.RetryCeiling)
	}
	return c, nil
}

// Service runs the job lifecycle.
type Service struct {
	store  domain.Store
	queue  domain.Queue
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	jitter func() float64
}

// Option changes a Service's collaborators, mainly for tests that pin time.
type Option func(*Service)

// WithClock injects the clock.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithJitter injects the retry jitter source (values in [-1, 1]).
func WithJitter(j func() float64) Option { return func(s *Service) { s.jitter = j } }

// New builds a Service.
func New(store domain.Store, queue domain.Queue, cfg Config, log *slog.Logger,
	opts ...Option) (*Service, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{store: store, queue: queue, cfg: cfg, log: log, now: time.Now,
		jitter: func() float64 { return rand.Float64()*2 - 1 }}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.now().UTC() }

// errNoChange lets an update function decide that nothing needs writing.
var errNoChange = errors.New("no change")

// maxRaces bounds how often one change is retried after losing a conditional write.
const maxRaces = 12

// update applies fn to the freshest copy of a job and writes it back conditionally, retrying
// when another writer got there first. fn sees current state every time, so the rules in the
// domain decide on what is really stored, and the store enforces that atomically.
func (s *Service) update(ctx context.Context, id string,
	fn func(*domain.Job) ([]domain.Event, error)) (domain.Job, error) {
	for race := 0; race < maxRaces; race++ {
		job, err := s.getJob(ctx, id)
		if err != nil {
			return domain.Job{}, err
		}
		events, err := fn(&job)
		if errors.Is(err, errNoChange) {
			return job, nil
		}
		if err != nil {
			return job, err
		}
		err = s.store.SaveJob(ctx, &job, events...)
		if errors.Is(err, domain.ErrStale) {
			s.pause(ctx, race)
			continue
		}
		if err != nil {
			return job, fmt.Errorf("save job %s: %w", id, err)
		}
		return job, nil
	}
	return domain.Job{}, domain.Errorf(domain.KindConflict,
		"job %s is being changed by others; retry", id)
}

func (s *Service) pause(ctx context.Context, race int) {
	s.sleep(ctx, time.Duration(1+rand.IntN(5*(race+1)))*time.Millisecond)
}

func (s *Service) getJob(ctx context.Context, id string) (domain.Job, error) {
	job, err := s.store.GetJob(ctx, id)
	if errors.Is(err, domain.ErrNotFound) {
		return job, domain.Errorf(domain.KindNotFound, "job %s not found", id)
	}
	if err != nil {
		return job, fmt.Errorf("get job %s: %w", id, err)
	}
	return job, nil
}

// dispatch sends the wake-up message for a queued job. Failure is logged, not returned: the
// job is safely QUEUED in the store and the sweeper sends the message again later.
func (s *Service) dispatch(ctx context.Context, job domain.Job, delay time.Duration) bool {
	key := domain.QueueFor(job.Spec)
	d := domain.Dispatch{JobID: job.JobID, Attempt: job.Attempt}
	if err := s.queue.Send(ctx, key, d, delay); err != nil {
		s.log.ErrorContext(ctx, "dispatch job", "job_id", job.JobID, "error", err)
		return false
	}
	return true
}
