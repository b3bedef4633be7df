package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/domain"
)

func runMonitor(ctx context.Context, a *app, args []string) error {
	id, c, err := a.jobCommand(args)
	if err != nil {
		return err
	}
	job, err := c.Job(ctx, id)
	if err != nil {
		return fmt.Errorf("get job %s: %w", id, err)
	}
	if !a.g.json && !job.State.Terminal() {
		a.printf("job %s: %s%s\n", clean(id), clean(string(job.State)), waiting(job))
		if job.State == domain.StateValidated {
			a.printf("the job is not queued; run 'h2k queue-job %s' to start it\n", clean(id))
		}
	}
	return a.monitor(ctx, c, id)
}

// monitor follows a job to its end; the end state decides the command's outcome.
func (a *app) monitor(ctx context.Context, c *client.Client, id string) error {
	w := &watcher{app: a, view: newView(a.env)}
	sum, err := w.watch(ctx, c, id)
	w.view.finish()
	if err != nil {
		return fmt.Errorf("monitor job %s: %w", id, err)
	}
	return a.ended(id, sum)
}

// watcher shows each event once, whatever the stream replays.
type watcher struct {
	app   *app
	view  *progressView
	last  int64 // highest seq shown
	shown int
}

// streamLine is one line of monitor --json: the SSE event name and its data.
type streamLine struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
}

func (w *watcher) onProgress(p client.Progress) {
	if p.Seq > 0 && p.Seq <= w.last {
		return
	}
	w.last = max(w.last, p.Seq)
	w.shown++
	if w.app.g.json {
		_ = w.app.printLine(streamLine{Event: "progress", Data: p})
		return
	}
	w.view.show(p)
}

// watch follows the stream; client.Watch resumes after each drop from the last event, and
// only drops in a row without progress count against the reconnect limit.
func (w *watcher) watch(ctx context.Context, c *client.Client, id string) (client.Summary,
	error) {
	return c.Watch(ctx, id, w.onProgress, w.app.env.Reconnects)
}

// ended prints how the job ended and returns its outcome: nil only for COMPLETED.
func (a *app) ended(id string, sum client.Summary) error {
	var res domain.Result
	if len(sum.Result) > 0 {
		_ = json.Unmarshal(sum.Result, &res) // a summary without a usable result still ends
	}
	state := domain.State(sum.State)
	if a.g.json {
		if err := a.printLine(streamLine{Event: "complete", Data: sum}); err != nil {
			return err
		}
	} else if state == domain.StateCompleted {
		a.printf("job %s COMPLETED%s\n", clean(id), outputs(res))
	}
	if state == domain.StateCompleted {
		return nil
	}
	return &jobEnded{id: clean(id), state: domain.State(clean(sum.State)), reason: failure(res)}
}

func outputs(res domain.Result) string {
	var text string
	if res.Outputs.FixedImage != "" {
		text += ": output " + clean(res.Outputs.FixedImage)
	}
	if secs, ok := number(res.Metrics["execution_seconds"]); ok && secs >= 1 {
		text += fmt.Sprintf(" (%s)", duration(secondsToDuration(secs)))
	}
	return text
}

func failure(res domain.Result) string {
	e := res.Error
	if e == nil {
		return ""
	}
	text := clean(string(e.Code) + ": " + e.Message)
	if e.Phase != "" {
		text += " (in " + clean(string(e.Phase)) + ")"
	}
	return text
}
