package imagetool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// maxDescriptor is the most of a VMDK descriptor qemu reads, and so the most we scan.
const maxDescriptor = 1 << 20

// checkReferences refuses, before qemu-img opens the file, references it would follow while
// opening: VMDK extents (in a text descriptor or one embedded in a sparse file) naming files
// outside the image's folder, and qcow2 external data files. qemu-img info already reads
// those files, so checking its output afterwards would be too late.
func checkReferences(abs string) error {
	f, err := os.Open(abs)
	if err != nil {
		return osError(domain.PhasePreflight, "open source image", err, names(abs))
	}
	defer f.Close()
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return osError(domain.PhasePreflight, "read source image", err, names(abs))
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("KDMV")):
		return checkEmbeddedDescriptor(abs, f, head)
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		return checkQcow2DataFile(abs, head)
	}
	// qemu reads a text descriptor as a C string, so whatever precedes the first NUL byte
	// is what it parses: scan exactly that, whatever follows.
	return checkDescriptor(abs, &untilNUL{r: io.NewSectionReader(f, 0, maxDescriptor)})
}

// untilNUL reads until the first NUL byte.
type untilNUL struct {
	r    io.Reader
	done bool
}

func (u *untilNUL) Read(p []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	n, err := u.r.Read(p)
	if i := bytes.IndexByte(p[:n], 0); i >= 0 {
		u.done = true
		return i, nil
	}
	return n, err
}

// checkEmbeddedDescriptor scans the descriptor a sparse VMDK carries inside itself.
func checkEmbeddedDescriptor(abs string, f io.ReaderAt, head []byte) error {
	if len(head) < 44 {
		return nil // too short to be a VMDK; qemu-img will say so
	}
	off := binary.LittleEndian.Uint64(head[28:]) * 512
	size := min(binary.LittleEndian.Uint64(head[36:])*512, maxDescriptor)
	if off == 0 || size == 0 || off > 1<<40 {
		return nil
	}
	return checkDescriptor(abs, io.NewSectionReader(f, int64(off), int64(size)))
}

// checkQcow2DataFile refuses qcow2 images with the external data file feature (bit 2 of the
// incompatible features of a version 3 header).
func checkQcow2DataFile(abs string, head []byte) error {
	if len(head) < 80 || binary.BigEndian.Uint32(head[4:]) < 3 {
		return nil
	}
	if binary.BigEndian.Uint64(head[72:])&(1<<2) == 0 {
		return nil
	}
	return named(ErrExternalFile, jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
		"%s keeps its data in an external file", filepath.Base(abs)))
}

// checkDescriptor checks every extent a VMDK descriptor names.
func checkDescriptor(abs string, r io.Reader) error {
	for _, name := range DescriptorExtents(r) {
		if err := confineExtent(abs, name); err != nil {
			return err
		}
	}
	return nil
}

// extentLine matches a VMDK extent line: access, size in sectors, type, "file name".
// Leading white space is C's isspace, which includes the vertical tab that Go's \s lacks.
var extentLine = regexp.MustCompile(`^[\t\n\v\f\r ]*(RW|RDONLY|NOACCESS)\b.*?"([^"\r\n]*)"`)

// DescriptorExtents returns the file names the extent lines of a VMDK text descriptor name,
// in order. It reads at most maxDescriptor bytes and ignores anything it does not understand:
// it is a safety net run before qemu-img, not a VMDK parser.
func DescriptorExtents(r io.Reader) []string {
	var out []string
	sc := bufio.NewScanner(io.LimitReader(r, maxDescriptor))
	sc.Buffer(make([]byte, 4096), maxDescriptor)
	sc.Split(scanDescriptorLines)
	for sc.Scan() {
		if m := extentLine.FindSubmatch(sc.Bytes()); m != nil {
			out = append(out, string(m[2]))
		}
	}
	return out
}

// scanDescriptorLines splits on \n or \r, and stops at a NUL that ends an embedded
// descriptor's padding.
func scanDescriptorLines(data []byte, atEOF bool) (int, []byte, error) {
	if len(data) > 0 && data[0] == 0 {
		return 0, nil, bufio.ErrFinalToken
	}
	if i := bytes.IndexAny(data, "\r\n\x00"); i >= 0 {
		if data[i] == 0 {
			return i, data[:i], nil
		}
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// confineExtent accepts an extent only when it is a plain file in the image's own folder,
// after following symbolic links. A name with a colon could be read by qemu as a protocol.
func confineExtent(abs, name string) error {
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(abs), p)
	}
	refused := func() error {
		return named(ErrExternalFile, jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
			"%s refers to %q outside its folder", filepath.Base(abs), filepath.Base(name)))
	}
	if strings.ContainsRune(name, ':') || filepath.Dir(p) != filepath.Dir(abs) {
		return refused()
	}
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing to read; qemu-img reports the missing extent
	}
	dir, derr := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil || derr != nil || filepath.Dir(real) != dir {
		return refused()
	}
	return nil
}
