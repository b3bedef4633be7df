package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/worker-host/agent"
)

// inspectReport is what an inspect job writes: what qemu-img sees of the image.
type inspectReport struct {
	JobID       string `json:"job_id"`
	Image       string `json:"image"`
	Format      string `json:"format"`
	Subformat   string `json:"subformat,omitempty"`
	VirtualSize int64  `json:"virtual_size_bytes"`
	ActualSize  int64  `json:"actual_size_bytes"`
	Dirty       bool   `json:"dirty"`
}

// writeNew writes a file through a fresh temporary file renamed into place, so an existing
// name (a hard link to someone else's file, say) is replaced, never written through.
func writeNew(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil && cerr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil || cerr != nil {
		_ = os.Remove(f.Name())
		return errors.Join(werr, cerr)
	}
	return nil
}

func (e *Executor) inspect(ctx context.Context, spec domain.JobSpec, src string,
	report agent.Reporter) (domain.Result, error) {
	report(domain.PhaseInspection, 10, "reading image metadata", nil)
	info, err := e.Tool.Preflight(ctx, src, spec.Image.Format)
	if err != nil {
		return domain.Result{}, err
	}
	rep := inspectReport{JobID: spec.JobID, Image: src, Format: info.Format,
		Subformat: info.Subformat, VirtualSize: info.VirtualSize, ActualSize: info.ActualSize,
		Dirty: info.Dirty}
	path, err := e.outputPath(spec, "inspect.json")
	if err != nil {
		return domain.Result{}, err
	}
	data, _ := json.MarshalIndent(rep, "", "  ")
	if err := writeNew(path, data); err != nil {
		return domain.Result{}, fmt.Errorf("write inspection report: %w", err)
	}
	return domain.Result{Outputs: domain.Outputs{Report: path}, Metrics: map[string]any{
		"virtual_size_bytes": info.VirtualSize, "source_format": info.Format,
		"disk_read_bytes": info.ActualSize}}, nil
}
