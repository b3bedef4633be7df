package service

import (
	"context"
	"fmt"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Snapshot is what a metrics scrape reports, read from a few items and index counts.
type Snapshot struct {
	Jobs     map[domain.State]int
	Workers  []domain.Worker
	Queue    domain.QueueStats
	Counters domain.Counters
}

// Snapshot gathers the current numbers for /metrics.
func (s *Service) Snapshot(ctx context.Context) (Snapshot, error) {
	snap := Snapshot{Jobs: map[domain.State]int{}}
	for _, st := range domain.AllStates {
		n, err := s.store.CountJobs(ctx, st)
		if err != nil {
			return snap, fmt.Errorf("count %s: %w", st, err)
		}
		snap.Jobs[st] = n
	}
	var err error
	if snap.Workers, err = s.Workers(ctx); err != nil {
		return snap, err
	}
	if snap.Queue, err = s.queue.Stats(ctx); err != nil {
		return snap, fmt.Errorf("queue stats: %w", err)
	}
	if snap.Counters, err = s.store.Counters(ctx); err != nil {
		return snap, fmt.Errorf("counters: %w", err)
	}
	return snap, nil
}
