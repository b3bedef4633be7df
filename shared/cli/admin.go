package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

func runHealth(ctx context.Context, a *app, args []string) error {
	if _, err := a.parse(a.flags(), args, 0, 0); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	h, err := c.Health(ctx)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	if a.g.json {
		return a.printJSON(h)
	}
	a.printf("%s (version %s): alive workers %d, active jobs %d, at %s\n", clean(h.Status),
		orDash(clean(h.Version)), h.Workers, h.ActiveJobs, orDash(stamp(h.Timestamp)))
	return nil
}

func runRegister(ctx context.Context, a *app, args []string) error {
	pos, err := a.parse(a.flags(), args, 1, 1)
	if err != nil {
		return err
	}
	body, err := a.readInput(pos, "registration")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	w, err := c.Register(ctx, body)
	if err != nil {
		return fmt.Errorf("register worker: %w", err)
	}
	if a.g.json {
		return a.printJSON(w)
	}
	a.printf("worker %s registered: mode %s, capabilities %s\n", clean(w.WorkerID),
		orDash(clean(string(w.ExecutionMode))), orDash(capabilities(w.Capabilities)))
	return nil
}

func capabilities(c domain.Capabilities) string {
	var names []string
	for _, n := range []struct {
		on   bool
		name string
	}{{c.NBD, "nbd"}, {c.LVM, "lvm"}, {c.Mount, "mount"}, {c.SELinux, "selinux"},
		{c.QemuImg, "qemu_img"}} {
		if n.on {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

func runWorkers(ctx context.Context, a *app, args []string) error {
	if _, err := a.parse(a.flags(), args, 0, 0); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	ws, err := c.Workers(ctx)
	if err != nil {
		return fmt.Errorf("list workers: %w", err)
	}
	return a.printWorkers(ws)
}

func (a *app) printWorkers(ws []domain.Worker) error {
	if a.g.json {
		if ws == nil {
			ws = []domain.Worker{}
		}
		return a.printJSON(map[string]any{"workers": ws, "count": len(ws)})
	}
	rows := make([][]string, len(ws))
	for i, w := range ws {
		rows[i] = []string{w.WorkerID, w.Status, w.Hostname, string(w.ExecutionMode),
			capabilities(w.Capabilities),
			fmt.Sprintf("%d/%d", w.ActiveJobs, w.MaxConcurrentJobs), stamp(w.LastHeartbeat)}
	}
	return table(a.env.Stdout, []string{"WORKER ID", "STATUS", "HOSTNAME", "MODE",
		"CAPABILITIES", "JOBS", "LAST HEARTBEAT"}, rows)
}

func runQueue(ctx context.Context, a *app, args []string) error {
	if _, err := a.parse(a.flags(), args, 0, 0); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	st, err := c.QueueStatus(ctx)
	if err != nil {
		return fmt.Errorf("queue status: %w", err)
	}
	if a.g.json {
		return a.printJSON(st)
	}
	a.printQueue(st)
	return nil
}

func (a *app) printQueue(st service.QueueStatus) {
	bands := []string{string(domain.BandHigh), string(domain.BandNormal), string(domain.BandLow)}
	lines := [][2]string{
		{"waiting", fmt.Sprintf("%d (%s)", st.TotalJobs, counts(st.ByPriority, bands))},
		{"in flight", strconv.Itoa(st.InFlight)},
		{"delayed", strconv.Itoa(st.Delayed)},
		{"dead letters", strconv.Itoa(st.DeadLetter)},
		{"jobs QUEUED", strconv.Itoa(st.QueuedJobs)},
		{"jobs RETRYING", strconv.Itoa(st.RetryingNow)},
	}
	if len(st.ByQueue) > 0 {
		keys := slices.Sorted(maps.Keys(st.ByQueue))
		lines = append(lines, [2]string{"by queue", counts(st.ByQueue, keys)})
	}
	for _, l := range lines {
		a.printf("%-14s %s\n", l[0]+":", l[1])
	}
}

// counts renders "high 1, normal 0, low 2" in the given key order.
func counts(m map[string]int, keys []string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = clean(k) + " " + strconv.Itoa(m[k])
	}
	return strings.Join(parts, ", ")
}
