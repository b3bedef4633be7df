package imagetool

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// ConvertRequest names one conversion.
type ConvertRequest struct {
	Src       string
	SrcFormat string // ours ("vhd", not "vpc"); empty means use what qemu-img probes
	Dst       string // replaced only when the conversion succeeds
	DstFormat string // "qcow2" or "raw"
	Compress  bool   // qcow2 only
	// RateLimit caps reading from the source, in bytes per second, so one job cannot starve
	// the others on a shared disk; 0 means no limit.
	RateLimit int64
}

// ConvertResult says what a conversion read and wrote, for the job's result metrics.
type ConvertResult struct {
	Source      ImageInfo
	OutputBytes int64 // bytes allocated by the output on the host
}

// Convert runs Preflight on the source, then qemu-img convert into a temporary file next to
// Dst, which is renamed into place only on success; on failure or cancel nothing is left
// behind. onProgress, which may be nil, gets rising percentages, throttled, ending with 100;
// it runs on the goroutine reading the tool's output, one call at a time, never after
// Convert returns.
func (t *Tool) Convert(ctx context.Context, req ConvertRequest,
	onProgress func(pct float64)) (ConvertResult, error) {
	if err := req.validate(); err != nil {
		return ConvertResult{}, err
	}
	src, err := t.Preflight(ctx, req.Src, req.SrcFormat)
	if err != nil {
		return ConvertResult{}, err
	}
	dst, _ := filepath.Abs(req.Dst) // validate made sure it resolves
	if dst == src.Path {
		return ConvertResult{}, jobErr(domain.PhasePreflight, domain.CodeValidationFailed,
			"output %s would overwrite the source", filepath.Base(dst))
	}
	throttle := t.newThrottle(onProgress)
	out, err := t.convertTo(ctx, src, dst, req, throttle)
	if err != nil {
		return ConvertResult{}, err
	}
	if throttle != nil {
		throttle.Report(100)
	}
	t.cfg.Logger.InfoContext(ctx, "image converted", "format", src.Format,
		"output_format", req.DstFormat, "virtual_size", src.VirtualSize, "output_bytes", out)
	return ConvertResult{Source: src, OutputBytes: out}, nil
}

func (r ConvertRequest) validate() error {
	bad := func(format string, args ...any) error {
		return jobErr(domain.PhasePreflight, domain.CodeValidationFailed, format, args...)
	}
	switch {
	case r.Src == "" || r.Dst == "":
		return bad("convert needs a source and an output path")
	case !slices.Contains(domain.OutputFormats, r.DstFormat):
		return bad("output format %q: must be one of %v", r.DstFormat, domain.OutputFormats)
	case r.Compress && r.DstFormat != "qcow2":
		return bad("compression needs qcow2 output, not %s", r.DstFormat)
	case r.RateLimit < 0:
		return bad("rate limit must not be negative")
	}
	if _, err := filepath.Abs(r.Dst); err != nil {
		return bad("output path: %v", err)
	}
	return nil
}

// convertTo converts into a temporary file and renames it to dst, returning its size.
func (t *Tool) convertTo(ctx context.Context, src ImageInfo, dst string, req ConvertRequest,
	throttle *Throttle) (int64, error) {
	tmp, err := reserveTemp(dst)
	if err != nil {
		return 0, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.Remove(tmp)
		}
	}()
	if err := t.runConvert(ctx, src, tmp, dst, req, throttle); err != nil {
		return 0, err
	}
	size, err := commit(tmp, dst)
	if err != nil {
		return 0, err
	}
	committed = true
	return size, nil
}

// runConvert runs qemu-img convert from src into tmp.
func (t *Tool) runConvert(ctx context.Context, src ImageInfo, tmp, dst string,
	req ConvertRequest, throttle *Throttle) error {
	spec := fileSpec(src.Path, src.QemuFormat)
	args := []string{"convert", "-p", "-O", req.DstFormat}
	if req.Compress {
		args = append(args, "-c")
	}
	if req.RateLimit > 0 {
		args = append(args, "-r", strconv.FormatInt(req.RateLimit, 10))
	}
	parser := NewProgressParser(func(float64) {})
	if throttle != nil {
		parser = NewProgressParser(throttle.Report)
	}
	err := t.qemu(ctx, parser, append(args, spec, tmp)...)
	parser.Flush()
	if err != nil {
		n := names(src.Path, dst).with(spec, filepath.Base(src.Path))
		return toolError(ctx, domain.PhaseConversion, "qemu-img convert", err,
			domain.CodeExecutionFailed, n.with(tmp, filepath.Base(dst)))
	}
	return nil
}

// reserveTemp creates an empty, uniquely named file in dst's folder for qemu-img to write.
// It sits in the same folder, so the final rename cannot cross file systems.
func reserveTemp(dst string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".partial-*")
	if err != nil {
		return "", osError(domain.PhaseConversion, "create output file", err, names(dst))
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", osError(domain.PhaseConversion, "create output file", err, names(dst))
	}
	return f.Name(), nil
}

// commit renames tmp to dst and makes the rename durable, returning the allocated size.
func commit(tmp, dst string) (int64, error) {
	n := names(dst).with(tmp, filepath.Base(dst))
	if err := os.Rename(tmp, dst); err != nil {
		return 0, osError(domain.PhaseConversion, "move output into place", err, n)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return 0, osError(domain.PhaseConversion, "sync output folder", err, n)
	}
	return allocated(dst), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	return d.Sync()
}
