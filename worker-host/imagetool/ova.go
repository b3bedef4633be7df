package imagetool

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// diskExtensions are the entries taken out of an OVA as disks; the descriptor, manifest,
// certificate, ISO and NVRAM files are not.
var diskExtensions = map[string]bool{
	".vmdk": true, ".vhd": true, ".vhdx": true, ".img": true, ".qcow2": true, ".raw": true,
}

// ExtractOVADisks unpacks the disks of the OVA at ovaPath into destDir and returns their
// paths: in the descriptor's order where it names them, otherwise in archive order. The
// archive is read once, as a stream. Entries with absolute or nested paths, "..", links and
// anything but regular files are refused (ErrUnsafeEntry), gzip-compressed disks are
// unpacked, and the manifest's digests, when there is one, are checked. On failure every
// file written so far is removed.
func (t *Tool) ExtractOVADisks(ctx context.Context, ovaPath, destDir string) ([]string,
	error) {
	f, size, err := openOVA(ovaPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	x := &ovaExtractor{ctx: ctx, log: t.cfg.Logger, destDir: destDir,
		names: names(ovaPath, destDir), seen: map[string]bool{}, digests: map[string]string{}}
	in := &progressReader{ctx: ctx, r: f, total: size}
	if err := x.readAll(tar.NewReader(bufio.NewReaderSize(in, hashBlock))); err != nil {
		x.removeAll()
		return nil, err
	}
	return x.ordered(), nil
}

func openOVA(ovaPath string) (*os.File, int64, error) {
	f, err := os.Open(ovaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, jobErr(domain.PhasePreflight, domain.CodeInputNotFound,
			"OVA %s not found", filepath.Base(ovaPath))
	}
	if err != nil {
		return nil, 0, osError(domain.PhasePreflight, "open OVA", err, names(ovaPath))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, osError(domain.PhasePreflight, "stat OVA", err, names(ovaPath))
	}
	return f, fi.Size(), nil
}

// extracted is one disk taken out of the archive.
type extracted struct {
	name, path string
	compressed bool
}

type ovaExtractor struct {
	ctx      context.Context
	log      *slog.Logger
	destDir  string
	names    pathNames
	ovf      *OVF
	ovfName  string
	ovfRaw   []byte
	manifest map[string]Digest
	seen     map[string]bool   // every entry name
	digests  map[string]string // entry name → hex digest, in the manifest's algorithm
	disks    []extracted       // archive order
}

func (x *ovaExtractor) readAll(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return x.finish()
		}
		if err != nil {
			return x.readError(err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
}

// entry handles one archive member; members we do not use are skipped, hashed on the way
// past when the manifest lists them.
func (x *ovaExtractor) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // archive-wide metadata, not a member
	}
	name, err := entryName(hdr)
	if err != nil {
		return err
	}
	if x.seen[name] {
		return unsafeEntry("%q appears twice", name)
	}
	x.seen[name] = true
	switch ext := strings.ToLower(path.Ext(name)); {
	case ext == ".ovf":
		return x.readOVF(name, r)
	case ext == ".mf" && x.manifest == nil:
		x.manifest = ParseManifest(r)
		return nil
	case diskExtensions[ext]:
		return x.extract(name, r)
	}
	_, err = io.Copy(io.Discard, x.hashing(name, r))
	return x.readError(err)
}

// entryName returns the member's file name, refusing what could write outside destDir.
func entryName(hdr *tar.Header) (string, error) {
	if hdr.Typeflag != tar.TypeReg {
		return "", unsafeEntry("%q is not a regular file (tar type %q)", hdr.Name,
			string(hdr.Typeflag))
	}
	n := hdr.Name
	if n == "" || strings.HasPrefix(n, "/") || strings.ContainsAny(n, "\\\x00") {
		return "", unsafeEntry("%q is not a plain relative name", n)
	}
	if slices.Contains(strings.Split(n, "/"), "..") {
		return "", unsafeEntry("%q climbs out with ..", n)
	}
	clean := path.Clean(n)
	if strings.Contains(clean, "/") || clean == "." {
		return "", unsafeEntry("%q is in a subfolder; OVA members must be flat", n)
	}
	return clean, nil
}

func unsafeEntry(format string, args ...any) error {
	return named(ErrUnsafeEntry, jobErr(domain.PhasePreflight, domain.CodeValidationFailed,
		"OVA member "+format, args...))
}

// readError reports a failure to read the archive: a cancel, or a truncated or damaged
// file. nil stays nil.
func (x *ovaExtractor) readError(err error) error {
	switch {
	case err == nil:
		return nil
	case x.ctx.Err() != nil:
		return contextError(x.ctx, domain.PhasePreflight)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, tar.ErrHeader):
		return jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
			"OVA is truncated or damaged: %v", err)
	}
	return osError(domain.PhasePreflight, "read OVA", err, x.names)
}

// readOVF keeps the descriptor. One that does not parse only costs the disk order: the
// disks themselves are still good.
func (x *ovaExtractor) readOVF(name string, r io.Reader) error {
	if x.ovfName != "" {
		return unsafeEntry("%q is a second descriptor", name)
	}
	x.ovfName = name
	raw, err := io.ReadAll(io.LimitReader(x.hashing(name, r), maxOVF+1))
	if err != nil {
		return x.readError(err)
	}
	if len(raw) > maxOVF {
		return unsafeEntry("%q is larger than %d bytes", name, maxOVF)
	}
	x.ovfRaw = raw
	ovf, err := ParseOVF(bytes.NewReader(raw))
	if err != nil {
		x.log.WarnContext(x.ctx, "OVA descriptor unreadable, keeping archive order", "error", err)
		return nil
	}
	x.ovf = &ovf
	return nil
}

// hashing returns r, hashed on the way through when the manifest lists name.
func (x *ovaExtractor) hashing(name string, r io.Reader) io.Reader {
	d, ok := x.manifest[name]
	if !ok {
		return r
	}
	h := newHash(d.Algorithm)
	return &hashReader{r: r, done: func() { x.digests[name] = fmt.Sprintf("%x", h.Sum(nil)) },
		w: h}
}

// hashReader feeds what it reads to w and calls done at EOF.
type hashReader struct {
	r    io.Reader
	w    io.Writer
	done func()
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.w.Write(p[:n]) //nolint:errcheck // hashes never fail
	if errors.Is(err, io.EOF) && h.done != nil {
		h.done()
		h.done = nil
	}
	return n, err
}
