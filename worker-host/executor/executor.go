// Package executor does the work of a job on the worker host: it confines paths, verifies
// the checksum, converts with qemu-img, checks the output against the source, and reports
// progress along the way. Operations it cannot really perform fail with
// UNSUPPORTED_OPERATION; nothing ends COMPLETED without having been done.
package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/worker-host/agent"
	"github.com/hyper2kvm/controlplane/worker-host/imagetool"
	"github.com/hyper2kvm/controlplane/worker-host/paths"
)

// Executor runs jobs with the image tool inside the path roots.
type Executor struct {
	Tool  *imagetool.Tool
	Roots paths.Roots
	// OutputRoot is where outputs go when a spec names no artifacts.output_path.
	OutputRoot string
	// WorkDir holds a job's intermediate files (extracted OVA disks).
	WorkDir string
	Log     *slog.Logger
	Now     func() time.Time
}

var _ agent.Executor = (*Executor)(nil)

// Execute runs one job.
func (e *Executor) Execute(ctx context.Context, spec domain.JobSpec,
	report agent.Reporter) (domain.Result, error) {
	start := e.Now()
	report(domain.PhasePreflight, 0, "checking the source image", nil)
	src, err := e.Roots.ResolveInput("image.path", spec.Image.Path)
	if err != nil {
		return domain.Result{}, err
	}
	if err := e.checksum(ctx, spec, src, report); err != nil {
		return domain.Result{}, err
	}
	var res domain.Result
	switch spec.Operation {
	case domain.OpConvert:
		res, err = e.convert(ctx, spec, src, report)
	case domain.OpInspect:
		res, err = e.inspect(ctx, spec, src, report)
	default:
		return res, &domain.JobError{Phase: domain.PhasePreflight,
			Code: domain.CodeUnsupportedOperation, Message: fmt.Sprintf(
				"operation %s needs guest-level repair tools this worker does not have; "+
					"supported here: convert, inspect", spec.Operation)}
	}
	if err != nil {
		return res, err
	}
	if res.Metrics == nil {
		res.Metrics = map[string]any{}
	}
	res.Metrics["execution_seconds"] = e.Now().Sub(start).Seconds()
	return res, nil
}

func (e *Executor) checksum(ctx context.Context, spec domain.JobSpec, src string,
	report agent.Reporter) error {
	if spec.Image.Checksum == "" {
		return nil
	}
	return e.Tool.VerifyChecksum(ctx, src, spec.Image.Checksum, func(pct float64) {
		report(domain.PhasePreflight, pct*0.05, fmt.Sprintf("verifying checksum: %.0f%%", pct), nil)
	})
}

// outputPath is artifacts.output_path when given, else <output root>/<job id>.<ext>. A
// named path must not exist yet: one job must never silently replace another's output.
// The default path is the job's own, so a retry may replace what an earlier attempt wrote.
func (e *Executor) outputPath(spec domain.JobSpec, ext string) (string, error) {
	if spec.Artifacts == nil || spec.Artifacts.OutputPath == "" {
		p := filepath.Join(e.OutputRoot, spec.JobID+"."+ext)
		return e.Roots.ResolveOutput("artifacts.output_path", p)
	}
	p, err := e.Roots.ResolveOutput("artifacts.output_path", spec.Artifacts.OutputPath)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(p); err == nil {
		return "", &domain.JobError{Phase: domain.PhasePreflight,
			Code: domain.CodePathNotAllowed, Message: "artifacts.output_path: " +
				filepath.Base(p) + " already exists; name a new file"}
	}
	return p, nil
}

// jobDir is a fresh folder for one job's intermediate files.
func (e *Executor) jobDir(id string) (string, error) {
	dir := filepath.Join(e.WorkDir, id)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clear work dir: %w", err)
	}
	return dir, os.MkdirAll(dir, 0o700)
}
