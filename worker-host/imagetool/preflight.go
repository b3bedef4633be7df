package imagetool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Preflight checks everything that must hold before a conversion starts: the file exists,
// it refers to no file outside its folder, its content is the declared format (declared may
// be empty: then the probed format is used), and qemu-img finds it whole. A truncated VMDK,
// VDI or qcow2 otherwise converts "successfully", reading zeros where its data is missing.
func (t *Tool) Preflight(ctx context.Context, path, declared string) (ImageInfo, error) {
	if declared != "" && QemuFormat(declared) == "" {
		return ImageInfo{}, jobErr(domain.PhasePreflight, domain.CodeUnsupportedOperation,
			"format %q is not a disk image qemu-img converts; extract OVA archives first",
			declared)
	}
	info, err := t.Info(ctx, path)
	if err != nil {
		return ImageInfo{}, err
	}
	if info, err = t.fixedVHD(ctx, info, declared); err != nil {
		return ImageInfo{}, err
	}
	if err := matchFormat(info, declared); err != nil {
		return ImageInfo{}, err
	}
	if err := t.check(ctx, info); err != nil {
		return ImageInfo{}, err
	}
	if err := t.checkEOF(ctx, info); err != nil {
		return ImageInfo{}, err
	}
	return info, nil
}

// fixedVHD handles fixed-size VHDs, which have only a footer and so probe as raw. When the
// file ends in a VHD footer and the job did not declare raw, it is read as VHD; declared
// raw, the footer is kept as the disk's last sector, as asked.
func (t *Tool) fixedVHD(ctx context.Context, info ImageInfo, declared string) (ImageInfo,
	error) {
	if info.QemuFormat != "raw" || declared == "raw" || !hasVHDFooter(info.Path) {
		return info, nil
	}
	vhd, err := t.info(ctx, info.Path, "vpc")
	if err != nil {
		return info, nil // not a VHD after all; matchFormat reports the raw probe
	}
	return vhd, vhd.refuse()
}

// hasVHDFooter reports whether the file ends in a VHD footer ("conectix" cookie).
func hasVHDFooter(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < 512 {
		return false
	}
	cookie := make([]byte, 8)
	_, err = f.ReadAt(cookie, fi.Size()-512)
	return err == nil && string(cookie) == "conectix"
}

// matchFormat refuses content that is not what the job declared, and formats we do not
// convert. A wrong declaration usually means a wrong file, which converting would hide.
func matchFormat(info ImageInfo, declared string) error {
	base := filepath.Base(info.Path)
	if declared != "" && declared != info.Format {
		je := jobErr(domain.PhasePreflight, domain.CodeFormatMismatch,
			"%s was declared %s but its content is %s", base, declared, info.Format)
		je.Details = map[string]any{"declared": declared, "probed": info.Format}
		return je
	}
	if QemuFormat(info.Format) == "" {
		return jobErr(domain.PhasePreflight, domain.CodeUnsupportedOperation,
			"%s is in %s format, which is not converted", base, info.Format)
	}
	return nil
}

// checkReport is the part of `qemu-img check --output=json` we read.
type checkReport struct {
	Corruptions int `json:"corruptions"`
}

// Exit statuses of qemu-img check that do not mean damage: leaked clusters waste space but
// lose no data, and some formats have no check.
const (
	checkLeaksOnly   = 3
	checkUnsupported = 63
)

// check runs qemu-img check, which finds truncated and damaged images where the format has
// a checker.
func (t *Tool) check(ctx context.Context, info ImageInfo) error {
	if info.QemuFormat == "raw" {
		return nil
	}
	spec := fileSpec(info.Path, info.QemuFormat)
	var out bytes.Buffer
	err := t.qemu(ctx, &out, "check", "--output=json", spec)
	if ee, ok := asExit(err); ok && (ee.Code == checkLeaksOnly || ee.Code == checkUnsupported) {
		return nil
	}
	if err == nil {
		return nil
	}
	// Exit status 1 ("check not completed") is what a truncated VMDK produces.
	je := toolError(ctx, domain.PhasePreflight, "qemu-img check", err,
		domain.CodeInputIncomplete, names(info.Path).with(spec, filepath.Base(info.Path)))
	var rep checkReport
	if json.Unmarshal(out.Bytes(), &rep) == nil && je.Details != nil {
		je.Details["corruptions"] = rep.Corruptions
	}
	return je
}

// mapEntry is one line of `qemu-img map --output=json`.
type mapEntry struct {
	Start  int64  `json:"start"`
	Length int64  `json:"length"`
	Data   bool   `json:"data"`
	Offset *int64 `json:"offset"`
}

// checkEOF asks qemu-img map where each allocated range lives in the file and refuses the
// image when one lies past the end: the sign of a truncated copy that qemu-img would
// otherwise read as zeros. It applies to images held in one file.
func (t *Tool) checkEOF(ctx context.Context, info ImageInfo) error {
	fi, err := os.Stat(info.Path)
	if err != nil || info.QemuFormat == "raw" || len(info.Extents) > 0 {
		return nil // raw cannot point past its end; a stat error surfaces in the convert
	}
	spec := fileSpec(info.Path, info.QemuFormat)
	beyond := eofScanner{size: fi.Size()}
	lines := newLineWriter(beyond.line)
	err = t.qemu(ctx, lines, "map", "--output=json", spec)
	lines.Flush()
	if err != nil {
		return toolError(ctx, domain.PhasePreflight, "qemu-img map", err,
			domain.CodeInputIncomplete, names(info.Path).with(spec, filepath.Base(info.Path)))
	}
	if beyond.found != nil {
		e := beyond.found
		return jobErr(domain.PhasePreflight, domain.CodeInputIncomplete, "%s is truncated: "+
			"data for guest offset %d lies at file offset %d, past its end (%d bytes)",
			filepath.Base(info.Path), e.Start, *e.Offset, fi.Size())
	}
	return nil
}

// eofScanner remembers the first map entry whose data lies past the end of the file.
type eofScanner struct {
	size  int64
	found *mapEntry
}

func (s *eofScanner) line(b []byte) {
	b = bytes.Trim(b, "[], \t")
	var e mapEntry
	if s.found != nil || len(b) == 0 || json.Unmarshal(b, &e) != nil {
		return
	}
	if e.Data && e.Offset != nil && *e.Offset+e.Length > s.size {
		s.found = &e
	}
}

// lineWriter calls fn for each complete line written to it, so a long tool output is read
// as it streams rather than held in memory. Lines longer than 64 KiB are dropped.
type lineWriter struct {
	fn      func([]byte)
	partial []byte
}

func newLineWriter(fn func([]byte)) *lineWriter { return &lineWriter{fn: fn} }

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			break
		}
		w.fn(append(w.partial, p[:i]...))
		w.partial, p = w.partial[:0], p[i+1:]
	}
	if len(w.partial)+len(p) > 64<<10 {
		w.partial = w.partial[:0]
		return n, nil
	}
	w.partial = append(w.partial, p...)
	return n, nil
}

// Flush passes on a last line that had no newline.
func (w *lineWriter) Flush() {
	if len(w.partial) > 0 {
		w.fn(w.partial)
		w.partial = w.partial[:0]
	}
}

// asExit returns err's *ExitError, if it is one.
func asExit(err error) (*ExitError, bool) {
	var ee *ExitError
	ok := errors.As(err, &ee)
	return ee, ok
}
