package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/domain"
)

// maxInput bounds a job spec or registration read from a file or stdin; the API refuses far
// smaller bodies, so anything larger is a wrong file.
const maxInput = 4 << 20

func runSubmit(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	queue := fs.Bool("queue", true, "queue the job at once; false leaves it VALIDATED "+
		"until 'h2k queue-job'")
	monitor := fs.Bool("monitor", false, "follow the job's progress until it ends")
	pos, err := a.parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if *monitor && !*queue {
		return usagef("--monitor with --queue=false would wait for ever: the job never starts")
	}
	spec, err := a.readInput(pos, "job spec")
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	ans, err := c.Submit(ctx, spec, *queue)
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	if err := a.printSubmitted(ans); err != nil || !*monitor {
		return err
	}
	return a.monitor(ctx, c, ans.JobID)
}

func (a *app) printSubmitted(ans client.Submitted) error {
	if a.g.json {
		return a.printJSON(ans)
	}
	a.printf("job %s: %s, %s", clean(ans.JobID), clean(string(ans.State)),
		clean(ans.Message))
	switch ans.State {
	case domain.StateQueued:
		a.printf(" (queue position %d)\n", ans.QueuePosition)
	case domain.StateValidated:
		a.printf("; run 'h2k queue-job %s' to queue it\n", clean(ans.JobID))
	default:
		a.printf("\n")
	}
	return nil
}

// readInput reads the one file argument, or stdin for none or "-". A missing or unreadable
// file is a usage error: the command line named the wrong thing.
func (a *app) readInput(pos []string, what string) ([]byte, error) {
	name, r := "stdin", a.env.Stdin
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return nil, usagef("read %s: %v", what, err)
		}
		defer f.Close()
		name, r = pos[0], f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	switch {
	case err != nil:
		return nil, usagef("read %s from %s: %v", what, name, err)
	case len(data) > maxInput:
		return nil, usagef("%s in %s is larger than %d bytes", what, name, maxInput)
	case len(data) == 0:
		return nil, usagef("%s in %s is empty", what, name)
	}
	return data, nil
}

func runGet(ctx context.Context, a *app, args []string) error {
	id, c, err := a.jobCommand(args)
	if err != nil {
		return err
	}
	job, err := c.Job(ctx, id)
	if err != nil {
		return fmt.Errorf("get job %s: %w", id, err)
	}
	return a.printJSON(job)
}

// jobCommand parses the commands whose one argument is a job id.
func (a *app) jobCommand(args []string) (string, *client.Client, error) {
	pos, err := a.parse(a.flags(), args, 1, 1)
	if err != nil {
		return "", nil, err
	}
	c, err := a.client()
	return pos[0], c, err
}

func runCancel(ctx context.Context, a *app, args []string) error {
	id, c, err := a.jobCommand(args)
	if err != nil {
		return err
	}
	ans, err := c.Cancel(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel job %s: %w", id, err)
	}
	if a.g.json {
		return a.printJSON(ans)
	}
	verdict := clean(string(ans.State))
	if ans.CancelRequested {
		verdict += ", cancel requested"
	}
	a.printf("job %s: %s (%s)\n", clean(id), verdict, clean(ans.Message))
	return nil
}

func runQueueJob(ctx context.Context, a *app, args []string) error {
	id, c, err := a.jobCommand(args)
	if err != nil {
		return err
	}
	job, err := c.QueueJob(ctx, id)
	if err != nil {
		return fmt.Errorf("queue job %s: %w", id, err)
	}
	if a.g.json {
		return a.printJSON(job)
	}
	a.printf("job %s: %s%s\n", clean(id), clean(string(job.State)), waiting(job))
	return nil
}

// waiting explains a queued job that no worker has taken, when the API knows why.
func waiting(j domain.Job) string {
	if j.WaitingReason == "" {
		return ""
	}
	return " (waiting: " + clean(j.WaitingReason) + ")"
}
