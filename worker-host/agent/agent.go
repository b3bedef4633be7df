// Package agent is the worker host's queue loop: it registers the host, heartbeats, polls the
// queues it can serve, runs each claimed job under its lease with its own deadline and panic
// guard, and shuts down in two phases (stop fetching, then stop what still runs).
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// Executor does one job's work. It reports progress through report and returns the
// outputs, or a *domain.JobError saying why the work failed.
type Executor interface {
	Execute(ctx context.Context, spec domain.JobSpec, report Reporter) (domain.Result, error)
}

// Reporter sends one progress record; the agent throttles nothing, the executor does.
type Reporter func(phase domain.Phase, pct float64, msg string, details map[string]any)

// Config tunes the loop.
type Config struct {
	Registration domain.Registration
	// PollWait is how long one long poll waits for a message (SQS allows up to 20 s).
	PollWait time.Duration
	// Heartbeat is how often the worker says it is alive and renews its leases.
	Heartbeat time.Duration
	// Grace is how long running jobs may go on after shutdown starts.
	Grace time.Duration
	// WriteRetry is how long a finished job's result is retried while the store is
	// unreachable (default 10 minutes).
	WriteRetry time.Duration
	// JobTimeout gives a job's time limit; nil means the spec's timeout_seconds. Tests use
	// it to reach the limit in milliseconds.
	JobTimeout func(domain.JobSpec) time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if !domain.ValidID(c.Registration.WorkerID) {
		return c, fmt.Errorf("agent: worker id %q is not valid", c.Registration.WorkerID)
	}
	if c.Registration.MaxConcurrentJobs <= 0 {
		c.Registration.MaxConcurrentJobs = 1
	}
	if c.PollWait <= 0 {
		c.PollWait = 20 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 30 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 30 * time.Second
	}
	if c.WriteRetry <= 0 {
		c.WriteRetry = 10 * time.Minute
	}
	if c.JobTimeout == nil {
		c.JobTimeout = func(s domain.JobSpec) time.Duration {
			return time.Duration(s.TimeoutSeconds()) * time.Second
		}
	}
	return c, nil
}

// Agent runs jobs for one worker host.
type Agent struct {
	svc  *service.Service
	exec Executor
	cfg  Config
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]*runningJob
}

type runningJob struct {
	lease  service.Lease
	cancel context.CancelCauseFunc
}

// New builds an Agent; a bad configuration fails here, not on the first message.
func New(svc *service.Service, exec Executor, cfg Config, log *slog.Logger) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if !cfg.Registration.Capabilities.QemuImg {
		return nil, errors.New("agent: qemu-img is not usable on this host; nothing to serve")
	}
	return &Agent{svc: svc, exec: exec, cfg: cfg, log: log.With("worker_id",
		cfg.Registration.WorkerID), running: map[string]*runningJob{}}, nil
}

// Causes of a job context's end, told apart when the result is written.
var (
	errCancelRequested = errors.New("cancel requested")
	errLeaseLost       = errors.New("lease lost")
	errShutdown        = errors.New("worker shutting down")
)

// Run registers and serves until ctx ends, then stops fetching, lets running jobs finish
// within the grace period, and gives back the leases of those that did not.
func (a *Agent) Run(ctx context.Context) error {
	w, err := a.svc.Register(ctx, a.cfg.Registration)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	work, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)
	var jobs, bg sync.WaitGroup
	bg.Go(func() { a.heartbeats(work) })
	a.fetch(ctx, work, w, &jobs)
	a.log.InfoContext(ctx, "stopping: no new jobs", "running", a.count())
	a.waitOrStop(&jobs, stopWork)
	stopWork(errShutdown)
	bg.Wait()
	return nil
}

func (a *Agent) waitOrStop(jobs *sync.WaitGroup, stop context.CancelCauseFunc) {
	done := make(chan struct{})
	go func() { jobs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(a.cfg.Grace):
		stop(errShutdown)
		<-done
	}
}

// fetch polls while ctx lives and there is a free slot.
func (a *Agent) fetch(ctx, work context.Context, w domain.Worker, jobs *sync.WaitGroup) {
	slots := make(chan struct{}, a.cfg.Registration.MaxConcurrentJobs)
	// round counts claims, not polls: idle polls must not make the next pick start from
	// the low band, or an idle worker would prefer priority 10 to priority 1.
	for round := 0; ctx.Err() == nil; {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		got, err := a.svc.Poll(ctx, w, round, a.cfg.PollWait)
		if err != nil || got == nil {
			<-slots
			a.pollFailed(ctx, err)
			continue
		}
		round++
		jobs.Go(func() {
			defer func() { <-slots }()
			a.runJob(work, *got)
		})
	}
}

func (a *Agent) pollFailed(ctx context.Context, err error) {
	if err == nil || ctx.Err() != nil {
		return
	}
	a.log.WarnContext(ctx, "poll", "error", err)
	sleep(ctx, 2*time.Second)
}

func (a *Agent) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.running)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
