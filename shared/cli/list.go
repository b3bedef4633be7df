package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/domain"
)

func runList(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	state := fs.String("state", "", "only jobs in this state, e.g. RUNNING or failed")
	limit := 100
	fs.Var(rangeInt{&limit, 1, 1000}, "limit", "jobs per page, 1-1000 (default 100)")
	all := fs.Bool("all", false, "follow the next cursors through every page")
	next := fs.String("next", "", "start at this cursor, printed by a previous list")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	q := client.JobQuery{Limit: limit, Next: *next}
	if *state != "" {
		st, ok := domain.ParseState(*state)
		if !ok {
			return usagef("--state %q: want one of %s", *state, stateNames())
		}
		q.State = string(st)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	page, err := listJobs(ctx, c, q, *all)
	if err != nil {
		return err
	}
	return a.printJobs(page)
}

func stateNames() string {
	names := make([]string, len(domain.AllStates))
	for i, s := range domain.AllStates {
		names[i] = string(s)
	}
	return strings.Join(names, " ")
}

// errCursorLoop stops --all when the API hands back a cursor it already gave, which would
// otherwise page for ever.
var errCursorLoop = errors.New("list jobs: the API repeated a page cursor")

// listJobs reads one page, or with all every page, concatenated into one.
func listJobs(ctx context.Context, c *client.Client, q client.JobQuery,
	all bool) (client.JobPage, error) {
	var out client.JobPage
	seen := map[string]bool{}
	for {
		page, err := c.Jobs(ctx, q)
		if err != nil {
			return out, fmt.Errorf("list jobs: %w", err)
		}
		out.Jobs = append(out.Jobs, page.Jobs...)
		out.Next = page.Next
		if !all || page.Next == "" {
			break
		}
		if seen[page.Next] {
			return out, errCursorLoop
		}
		seen[page.Next] = true
		q.Next = page.Next
	}
	out.Count = len(out.Jobs)
	return out, nil
}

func (a *app) printJobs(page client.JobPage) error {
	if a.g.json {
		if page.Jobs == nil {
			page.Jobs = []domain.Job{}
		}
		return a.printJSON(page)
	}
	rows := make([][]string, len(page.Jobs))
	for i, j := range page.Jobs {
		rows[i] = []string{j.JobID, string(j.State), string(j.Spec.Operation), percent(j),
			strconv.Itoa(j.Attempt), j.WorkerID, stamp(j.UpdatedAt)}
	}
	err := table(a.env.Stdout, []string{"JOB ID", "STATE", "OPERATION", "PROGRESS", "ATTEMPT",
		"WORKER", "UPDATED"}, rows)
	if err == nil && page.Next != "" {
		fmt.Fprintf(a.env.Stderr, "more jobs: h2k list --next %s (or --all)\n", clean(page.Next))
	}
	return err
}

func percent(j domain.Job) string {
	if j.LatestEvent == nil {
		return ""
	}
	return fmt.Sprintf("%.0f%%", j.LatestEvent.ProgressPercent)
}

// eventPage is the page size events asks for, the API's maximum.
const eventPage = 1000

func runEvents(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	var after int64
	fs.Int64Var(&after, "after", 0, "only events with seq greater than N")
	since := fs.String("since", "", "only events at or after T: an RFC 3339 time, or a "+
		"duration ago such as 15m")
	pos, err := a.parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if after < 0 {
		return usagef("--after %d: want 0 or more", after)
	}
	q := client.EventQuery{After: after, Limit: eventPage}
	if q.Since, err = parseSince(*since, a.env.Now()); err != nil {
		return usagef("--since: %v", err)
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	evs, err := allEvents(ctx, c, pos[0], q)
	if err != nil {
		return err
	}
	return a.printEvents(pos[0], evs)
}

func allEvents(ctx context.Context, c *client.Client, id string,
	q client.EventQuery) ([]domain.Event, error) {
	var out []domain.Event
	for {
		page, err := c.Events(ctx, id, q)
		if err != nil {
			return out, fmt.Errorf("list events of job %s: %w", id, err)
		}
		out = append(out, page.Events...)
		// An empty page ends it, not a short one: the API may cap a page below Limit.
		if len(page.Events) == 0 || page.NextAfter <= q.After {
			return out, nil
		}
		q.After = page.NextAfter
	}
}

func (a *app) printEvents(id string, evs []domain.Event) error {
	if a.g.json {
		if evs == nil {
			evs = []domain.Event{}
		}
		return a.printJSON(client.EventPage{JobID: id, Events: evs, Count: len(evs),
			NextAfter: lastSeq(evs)})
	}
	rows := make([][]string, len(evs))
	for i, e := range evs {
		rows[i] = []string{strconv.FormatInt(e.Seq, 10), stamp(e.Timestamp), string(e.Phase),
			fmt.Sprintf("%.1f%%", e.ProgressPercent), diskText(e.Details), e.Message}
	}
	return table(a.env.Stdout, []string{"SEQ", "TIME", "PHASE", "PROGRESS", "DISK",
		"MESSAGE"}, rows)
}

func lastSeq(evs []domain.Event) int64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// diskText summarises the per-disk byte counts an event may carry.
func diskText(details map[string]any) string {
	d, ok := parseDisk(details)
	if !ok {
		return ""
	}
	text := d.name
	if d.total > 0 {
		text = strings.TrimSpace(text + " " + byteSize(d.done) + "/" + byteSize(d.total))
	}
	return text
}

// parseSince reads --since: an RFC 3339 time, or a positive Go duration meaning that long
// before now, because "the last 15 minutes" is what people usually want.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time such as "+
			"2026-01-02T15:04:05Z, or a duration ago such as 15m or 2h", s)
	}
	return now.Add(-d).UTC(), nil
}
