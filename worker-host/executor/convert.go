package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/worker-host/agent"
	"github.com/hyper2kvm/controlplane/worker-host/imagetool"
)

// Shares of the progress bar: preflight up to 5 %, conversion to 90 %, verification to 99 %.
const (
	convertFrom, convertTo = 5.0, 90.0
	verifyFrom, verifyTo   = 90.0, 99.0
)

func (e *Executor) convert(ctx context.Context, spec domain.JobSpec, src string,
	report agent.Reporter) (domain.Result, error) {
	out, err := e.outputPath(spec, spec.OutputFormat())
	if err != nil {
		return domain.Result{}, err
	}
	disks, format, cleanup, err := e.sources(ctx, spec, src, report)
	if err != nil {
		return domain.Result{}, err
	}
	defer cleanup()
	res := domain.Result{Metrics: map[string]any{"disks": len(disks)}}
	var read, written int64
	for i, disk := range disks {
		dst := diskOutput(out, i)
		cr, err := e.convertDisk(ctx, spec, disk, format, dst, i, len(disks), report)
		if err != nil {
			return res, err
		}
		read += cr.Source.ActualSize
		written += cr.OutputBytes
		res.Metrics["virtual_size_bytes"] = cr.Source.VirtualSize
		res.Metrics["source_format"] = cr.Source.Format
		if i == 0 {
			res.Outputs.FixedImage = dst
		} else {
			res.Outputs.Intermediates = append(res.Outputs.Intermediates, dst)
		}
	}
	res.Metrics["disk_read_bytes"], res.Metrics["disk_write_bytes"] = read, written
	res.Metrics["verified"] = true
	report(domain.PhaseCleanup, verifyTo, "output verified: guest-visible content equals source",
		nil)
	return res, nil
}

// diskOutput names the output of disk i: the output path itself for the first disk, and
// name-disk2.qcow2 and so on for the further disks of an OVA.
func diskOutput(out string, i int) string {
	if i == 0 {
		return out
	}
	ext := filepath.Ext(out)
	return fmt.Sprintf("%s-disk%d%s", strings.TrimSuffix(out, ext), i+1, ext)
}

// sources returns the disks to convert: the image itself, or the disks inside an OVA.
func (e *Executor) sources(ctx context.Context, spec domain.JobSpec, src string,
	report agent.Reporter) ([]string, string, func(), error) {
	none := func() {}
	isOVA := spec.Image.Format == "ova" ||
		(spec.Image.Format == "" && strings.EqualFold(filepath.Ext(src), ".ova"))
	if !isOVA {
		return []string{src}, spec.Image.Format, none, nil
	}
	dir, err := e.jobDir(spec.JobID)
	if err != nil {
		return nil, "", none, err
	}
	report(domain.PhasePreflight, 1, "extracting disks from the OVA", nil)
	disks, err := e.Tool.ExtractOVADisks(ctx, src, dir)
	cleanup := func() {
		if spec.Artifacts == nil || !spec.Artifacts.KeepIntermediates {
			_ = os.RemoveAll(dir)
		}
	}
	if err != nil {
		cleanup()
		return nil, "", none, err
	}
	return disks, "", cleanup, nil
}

func (e *Executor) convertDisk(ctx context.Context, spec domain.JobSpec, disk, format,
	dst string, i, n int, report agent.Reporter) (imagetool.ConvertResult, error) {
	share := func(from, to, pct float64) float64 {
		per := (to - from) / float64(n)
		return from + per*float64(i) + per*pct/100
	}
	name := filepath.Base(disk)
	removeStalePartials(dst)
	info, err := e.Tool.Preflight(ctx, disk, format)
	if err != nil {
		return imagetool.ConvertResult{}, err
	}
	total := info.VirtualSize
	req := imagetool.ConvertRequest{Src: disk, SrcFormat: format, Dst: dst,
		DstFormat: spec.OutputFormat(), Compress: spec.Compress()}
	cr, err := e.Tool.Convert(ctx, req, func(pct float64) {
		report(domain.PhaseConversion, share(convertFrom, convertTo, pct),
			fmt.Sprintf("converting %s: %.1f%%", name, pct), diskDetails(name, total, pct))
	})
	if err != nil {
		return cr, err
	}
	err = e.Tool.Verify(ctx, disk, cr.Source.Format, dst, spec.OutputFormat(), func(pct float64) {
		report(domain.PhaseVerification, share(verifyFrom, verifyTo, pct),
			fmt.Sprintf("verifying %s: %.1f%%", name, pct), diskDetails(name, total, pct))
	})
	if err != nil {
		_ = os.Remove(dst) // a wrong output must not be mistaken for a good one
	}
	return cr, err
}

// removeStalePartials deletes temporary outputs a previous owner of the job left when it
// died mid-conversion. The lease makes the job ours alone, so nobody else writes them.
func removeStalePartials(dst string) {
	dir, prefix := filepath.Dir(dst), "."+filepath.Base(dst)+".partial-"
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) && e.Type().IsRegular() {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func diskDetails(name string, total int64, pct float64) map[string]any {
	d := map[string]any{"disk": name}
	if total > 0 {
		d["total_bytes"], d["done_bytes"] = total, int64(float64(total)*pct/100)
	}
	return d
}
