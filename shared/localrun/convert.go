package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hyper2kvm/controlplane/shared/client"
)

// submitAnswer is the part of the submit answer the run prints.
type submitAnswer struct {
	JobID         string `json:"job_id"`
	State         string `json:"state"`
	Message       string `json:"message"`
	QueuePosition int    `json:"queue_position"`
}

type jobResult struct {
	Outputs struct {
		FixedImage string `json:"fixed_image"`
	} `json:"outputs"`
	Metrics map[string]any `json:"metrics"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// convertOnce submits the original docs' example body with the real image path and a fresh
// job id, follows the SSE stream and checks the output independently with qemu-img compare.
func convertOnce(ctx context.Context, o Options, base, token, image string) error {
	c := client.New(base, token)
	id := "convert-vm-" + time.Now().UTC().Format("20060102-150405")
	format := strings.TrimPrefix(filepath.Ext(image), ".")
	body := fmt.Sprintf(`{"job_id": %q, "operation": "convert", "image": {"path": %q,
  "format": %q}, "parameters": {"output_format": "qcow2"}}`, id, image, format)
	say(o.Out, "POST /jobs?queue=true "+strings.Join(strings.Fields(body), " "))
	var ans submitAnswer
	status, err := c.Do(ctx, "POST", "/jobs?queue=true", []byte(body), &ans)
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	say(o.Out, fmt.Sprintf("%d %s: %s (queue position %d)", status, ans.State, ans.Message,
		ans.QueuePosition))
	say(o.Out, "GET /jobs/"+id+"/events/stream")
	bar := newBar(o.Out)
	sum, err := c.Watch(ctx, id, bar.show, 10)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	return report(ctx, o.Out, sum, image)
}

func report(ctx context.Context, w io.Writer, sum client.Summary, image string) error {
	var res jobResult
	_ = json.Unmarshal(sum.Result, &res)
	say(w, "job "+sum.JobID+" ended "+sum.State)
	if sum.State != "COMPLETED" {
		if res.Error != nil {
			say(w, res.Error.Code+": "+res.Error.Message)
		}
		return fmt.Errorf("job %s ended %s", sum.JobID, sum.State)
	}
	out := res.Outputs.FixedImage
	say(w, "output:       "+out)
	say(w, fmt.Sprintf("worker check: verified=%v", res.Metrics["verified"]))
	cmd := exec.CommandContext(ctx, "qemu-img", "compare", image, out)
	msg, err := cmd.CombinedOutput()
	verdict := strings.TrimSpace(string(msg))
	if err != nil {
		say(w, "verification: FAILED: "+verdict)
		return fmt.Errorf("output %s differs from source: %s", out, verdict)
	}
	say(w, "verification: PASSED (qemu-img compare: "+verdict+")")
	return nil
}

// bar prints progress events as they arrive: a rewriting line is hard to read in CI logs,
// so each event gets its own line.
type bar struct {
	w    io.Writer
	last string
}

func newBar(w io.Writer) *bar { return &bar{w: w} }

func (b *bar) show(p client.Progress) {
	n := int(p.ProgressPercent / 5)
	line := fmt.Sprintf("  [%-20s] %5.1f%%  %-12s %s", strings.Repeat("#", n),
		p.ProgressPercent, p.Phase, p.Message)
	if line != b.last {
		fmt.Fprintln(b.w, line)
		b.last = line
	}
}
