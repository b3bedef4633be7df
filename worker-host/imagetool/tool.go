package imagetool

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"time"
)

// Config sets up a Tool. The zero value runs the qemu-img on PATH as real processes.
type Config struct {
	// Runner runs qemu-img; nil means an ExecRunner with the default grace period.
	Runner Runner
	// Logger is passed in by the worker; nil discards.
	Logger *slog.Logger
	// QemuImg is the program to run; empty means "qemu-img" from PATH.
	QemuImg string
	// Now is the clock progress throttling reads; nil means time.Now.
	Now func() time.Time
	// ProgressInterval and ProgressStep limit progress callbacks: one is passed on only when
	// both this much time and this many percent have gone by since the last. Zero values
	// mean 500 ms and 1 %; negative values mean no limit.
	ProgressInterval time.Duration
	ProgressStep     float64
}

// Tool runs qemu-img for the worker. It is safe for concurrent use by several jobs.
type Tool struct {
	cfg Config
}

// New fills in defaults and, when it will run the real qemu-img, checks that it exists, so
// that a worker without it fails at start rather than on its first job.
func New(cfg Config) (*Tool, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.QemuImg == "" {
		cfg.QemuImg = "qemu-img"
	}
	if cfg.Runner == nil {
		if _, err := exec.LookPath(cfg.QemuImg); err != nil {
			return nil, fmt.Errorf("find qemu-img: %w", err)
		}
		cfg.Runner = &ExecRunner{Logger: cfg.Logger}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.ProgressInterval = orDefault(cfg.ProgressInterval, 500*time.Millisecond)
	cfg.ProgressStep = orDefault(cfg.ProgressStep, 1)
	if cfg.ProgressStep > 100 {
		return nil, fmt.Errorf("progress step %v: must be at most 100", cfg.ProgressStep)
	}
	return &Tool{cfg: cfg}, nil
}

func orDefault[T time.Duration | float64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// qemu runs one qemu-img subcommand. LC_ALL=C keeps its messages in the wording that
// classify matches.
func (t *Tool) qemu(ctx context.Context, stdout io.Writer, args ...string) error {
	return t.cfg.Runner.Run(ctx, Command{Name: t.cfg.QemuImg, Args: args,
		Env: []string{"LC_ALL=C"}, Stdout: stdout})
}

// newThrottle builds the progress limiter for one operation, or nil without a callback.
func (t *Tool) newThrottle(onProgress func(float64)) *Throttle {
	if onProgress == nil {
		return nil
	}
	return NewThrottle(t.cfg.ProgressInterval, t.cfg.ProgressStep, t.cfg.Now, onProgress)
}

// fileSpec is how every image reaches qemu-img: a json: filename that pins the file driver,
// so that no path is ever taken for a protocol such as nbd: or http:, and that never opens
// a backing file, so that probing an overlay reads nothing but the overlay.
func fileSpec(path, qemuFormat string) string {
	spec := map[string]any{
		"file":    map[string]string{"driver": "file", "filename": path},
		"backing": nil,
	}
	if qemuFormat != "" {
		spec["driver"] = qemuFormat
	}
	b, err := json.Marshal(spec)
	if err != nil {
		panic(fmt.Sprintf("marshal image spec: %v", err)) // maps of strings always marshal
	}
	return "json:" + string(b)
}
