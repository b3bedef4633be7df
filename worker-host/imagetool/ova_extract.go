package imagetool

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// extract writes one disk member to destDir, through a temporary name so that a file with
// the final name is always complete.
func (x *ovaExtractor) extract(name string, r io.Reader) error {
	ref := x.reference(name)
	if ref.ChunkSize > 0 || (ref.Compression != "" && ref.Compression != "gzip") {
		return jobErr(domain.PhasePreflight, domain.CodeUnsupportedOperation,
			"OVA disk %s is chunked or compressed as %q, which is not supported", name,
			ref.Compression)
	}
	stored := x.hashing(name, r) // the manifest digests the member as stored
	var src io.Reader = stored
	if ref.Compression == "gzip" {
		gz, err := gzip.NewReader(stored)
		if err != nil {
			return x.gzipError(name, err)
		}
		src = gz
	}
	dst := filepath.Join(x.destDir, name)
	if err := x.writeFile(dst, src); err != nil {
		return err
	}
	x.disks = append(x.disks, extracted{name: name, path: dst, compressed: ref.Compression != ""})
	// Trailing bytes after the gzip stream still count for the manifest digest.
	_, err := io.Copy(io.Discard, stored)
	return x.readError(err)
}

// reference returns the descriptor's entry for a member, if the descriptor came first.
func (x *ovaExtractor) reference(name string) OVFFile {
	if x.ovf == nil {
		return OVFFile{}
	}
	ref, _ := x.ovf.file(name)
	return ref
}

func (x *ovaExtractor) gzipError(name string, err error) error {
	if x.ctx.Err() != nil {
		return contextError(x.ctx, domain.PhasePreflight)
	}
	return jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
		"OVA disk %s is not valid gzip: %v", name, err)
}

// writeFile copies src into dst via a temporary file, telling read from write failures.
func (x *ovaExtractor) writeFile(dst string, src io.Reader) error {
	f, err := os.CreateTemp(x.destDir, "."+filepath.Base(dst)+".partial-*")
	if err != nil {
		return osError(domain.PhasePreflight, "create extracted disk", err, x.names)
	}
	tmp := f.Name()
	err = copyFile(f, src)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = &writeError{cerr}
	}
	if err == nil {
		if rerr := os.Rename(tmp, dst); rerr != nil {
			err = &writeError{rerr}
		}
	}
	if err == nil {
		return nil
	}
	_ = os.Remove(tmp)
	if we := (*writeError)(nil); errors.As(err, &we) {
		return osError(domain.PhasePreflight, "write extracted disk", we.error, x.names)
	}
	return x.readError(err)
}

// writeError marks a failure on the writing side of copyFile.
type writeError struct{ error }

func (w *writeError) Unwrap() error { return w.error }

func copyFile(dst io.Writer, src io.Reader) error {
	buf := make([]byte, hashBlock)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return &writeError{werr}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// finish checks the archive as a whole once it has been read.
func (x *ovaExtractor) finish() error {
	if len(x.disks) == 0 {
		return jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
			"OVA holds no disk image")
	}
	if x.ovf != nil {
		for _, f := range x.ovf.Files {
			if href := path.Clean(f.Href); f.ChunkSize == 0 && !x.seen[href] {
				return jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
					"OVA lacks %s, which its descriptor references", f.Href)
			}
		}
	}
	return x.verifyManifest()
}

// verifyManifest checks every digest of the manifest. Members hashed on the way past were
// done then; disks listed by a manifest that came after them are hashed from the disk.
func (x *ovaExtractor) verifyManifest() error {
	listed := make([]string, 0, len(x.manifest))
	for name := range x.manifest {
		listed = append(listed, name)
	}
	sort.Strings(listed)
	for _, name := range listed {
		if err := x.verifyDigest(name, x.manifest[name]); err != nil {
			return err
		}
	}
	return nil
}

func (x *ovaExtractor) verifyDigest(name string, want Digest) error {
	if !x.seen[name] {
		return jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
			"OVA lacks %s, which its manifest lists", name)
	}
	got, ok := x.digests[name]
	if !ok {
		var err error
		if got, ok, err = x.rehash(name, want.Algorithm); err != nil {
			return err
		}
	}
	if !ok {
		x.log.WarnContext(x.ctx, "OVA member not checked against manifest", "member", name)
		return nil
	}
	if got != want.Hex {
		je := jobErr(domain.PhasePreflight, domain.CodeChecksumMismatch,
			"OVA member %s does not match its manifest digest", name)
		je.Details = map[string]any{"algorithm": want.Algorithm, "expected": want.Hex,
			"actual": got}
		return je
	}
	return nil
}

// rehash hashes a member after the fact: the descriptor from memory, an uncompressed disk
// from its extracted file. Others cannot be checked any more.
func (x *ovaExtractor) rehash(name, algorithm string) (string, bool, error) {
	h := newHash(algorithm)
	if name == x.ovfName {
		h.Write(x.ovfRaw)
		return fmt.Sprintf("%x", h.Sum(nil)), true, nil
	}
	i := slices.IndexFunc(x.disks, func(d extracted) bool { return d.name == name })
	if i < 0 || x.disks[i].compressed {
		return "", false, nil
	}
	f, err := os.Open(x.disks[i].path)
	if err != nil {
		return "", false, osError(domain.PhasePreflight, "reopen extracted disk", err, x.names)
	}
	defer f.Close()
	if _, err := io.Copy(h, &progressReader{ctx: x.ctx, r: f}); err != nil {
		return "", false, x.readError(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), true, nil
}

// ordered returns the extracted disks' paths: descriptor order first, then archive order.
func (x *ovaExtractor) ordered() []string {
	var out []string
	taken := map[string]bool{}
	if x.ovf != nil {
		for _, href := range x.ovf.diskOrder() {
			i := slices.IndexFunc(x.disks, func(d extracted) bool { return d.name == href })
			if i >= 0 && !taken[href] {
				taken[href] = true
				out = append(out, x.disks[i].path)
			}
		}
	}
	for _, d := range x.disks {
		if !taken[d.name] {
			out = append(out, d.path)
		}
	}
	return out
}

// removeAll deletes the disks extracted so far, after a failure.
func (x *ovaExtractor) removeAll() {
	for _, d := range x.disks {
		_ = os.Remove(d.path)
	}
}
