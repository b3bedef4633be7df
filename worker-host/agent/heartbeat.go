package agent

import (
	"context"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// heartbeats keeps the worker alive and its leases renewed until ctx ends, and stops the
// jobs the answer names as cancelled or lost.
func (a *Agent) heartbeats(ctx context.Context) {
	t := time.NewTicker(a.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.beat(ctx)
		}
	}
}

func (a *Agent) beat(ctx context.Context) {
	ans, err := a.svc.Heartbeat(ctx, a.cfg.Registration.WorkerID, a.leases())
	if domain.ErrorKind(err) == domain.KindNotFound {
		// Someone unregistered this host (its leases went back to the queue); come back.
		a.log.WarnContext(ctx, "worker was unregistered; registering again")
		_, err = a.svc.Register(ctx, a.cfg.Registration)
	}
	if err != nil {
		if ctx.Err() == nil {
			a.log.WarnContext(ctx, "heartbeat", "error", err)
		}
		return
	}
	a.stop(ans.Cancel, errCancelRequested)
	a.stop(ans.Lost, errLeaseLost)
}

func (a *Agent) leases() []service.LeaseRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]service.LeaseRef, 0, len(a.running))
	for id, r := range a.running {
		out = append(out, service.LeaseRef{JobID: id, Token: r.lease.Token})
	}
	return out
}

func (a *Agent) stop(ids []string, cause error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if r, ok := a.running[id]; ok {
			r.cancel(cause)
		}
	}
}
