package imagetool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// ImageInfo is what qemu-img info reports about an image, in our vocabulary.
type ImageInfo struct {
	Path        string // absolute
	Format      string // ours: "vhd" where qemu says "vpc"
	QemuFormat  string
	Subformat   string // VMDK create type, e.g. "streamOptimized"
	VirtualSize int64  // bytes the guest sees
	ActualSize  int64  // bytes allocated on the host
	BackingFile string
	Dirty       bool
	Extents     []string // absolute paths of other files holding the image's data (VMDK)
	dataFile    string
	encrypted   bool
	corrupt     bool
}

// qemuInfo is the part of `qemu-img info --output=json` we read.
type qemuInfo struct {
	Format         string `json:"format"`
	VirtualSize    int64  `json:"virtual-size"`
	ActualSize     int64  `json:"actual-size"`
	Backing        string `json:"backing-filename"`
	Dirty          bool   `json:"dirty-flag"`
	Encrypted      bool   `json:"encrypted"`
	FormatSpecific struct {
		Data struct {
			CreateType string `json:"create-type"`
			Extents    []struct {
				Filename string `json:"filename"`
			} `json:"extents"`
			Corrupt  bool            `json:"corrupt"`
			DataFile string          `json:"data-file"`
			Encrypt  json.RawMessage `json:"encrypt"`
		} `json:"data"`
	} `json:"format-specific"`
}

// Info runs qemu-img info on path and refuses images that would make qemu-img read other
// files: a backing file (ErrBackingFile), or VMDK extents or a qcow2 data file outside the
// image's folder (ErrExternalFile). On ErrBackingFile the info is returned as well, so an
// inspection can still report it.
func (t *Tool) Info(ctx context.Context, path string) (ImageInfo, error) {
	abs, err := sourceFile(path)
	if err != nil {
		return ImageInfo{}, err
	}
	if err := checkReferences(abs); err != nil {
		return ImageInfo{}, err
	}
	info, err := t.info(ctx, abs, "")
	if err != nil {
		return ImageInfo{}, err
	}
	if err := info.refuse(); err != nil {
		if errors.Is(err, ErrBackingFile) {
			return info, err
		}
		return ImageInfo{}, err
	}
	return info, nil
}

// info runs qemu-img info, letting qemu probe the format when qemuFormat is empty.
func (t *Tool) info(ctx context.Context, abs, qemuFormat string) (ImageInfo, error) {
	spec := fileSpec(abs, qemuFormat)
	var out bytes.Buffer
	if err := t.qemu(ctx, &out, "info", "--output=json", spec); err != nil {
		return ImageInfo{}, toolError(ctx, domain.PhasePreflight, "qemu-img info", err,
			domain.CodeInputIncomplete, names(abs).with(spec, filepath.Base(abs)))
	}
	info, err := parseInfo(out.Bytes(), abs)
	if err != nil {
		return ImageInfo{}, jobErr(domain.PhasePreflight, domain.CodeExecutionFailed,
			"read qemu-img info output: %v", err)
	}
	return info, nil
}

// parseInfo decodes qemu-img info's JSON for the image at abs.
func parseInfo(data []byte, abs string) (ImageInfo, error) {
	var q qemuInfo
	if err := json.Unmarshal(data, &q); err != nil {
		return ImageInfo{}, fmt.Errorf("decode: %w", err)
	}
	if q.Format == "" {
		return ImageInfo{}, errors.New("decode: no format")
	}
	d := q.FormatSpecific.Data
	info := ImageInfo{Path: abs, Format: OurFormat(q.Format), QemuFormat: q.Format,
		Subformat: d.CreateType, VirtualSize: q.VirtualSize, ActualSize: q.ActualSize,
		BackingFile: q.Backing, Dirty: q.Dirty, dataFile: d.DataFile, corrupt: d.Corrupt,
		encrypted: q.Encrypted || len(d.Encrypt) > 0 && string(d.Encrypt) != "null"}
	for _, e := range d.Extents {
		p := e.Filename
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(abs), p)
		}
		if p != abs {
			info.Extents = append(info.Extents, p)
		}
	}
	return info, nil
}

// refuse rejects what qemu-img reports that we must not convert.
func (i ImageInfo) refuse() error {
	base := filepath.Base(i.Path)
	switch {
	case i.BackingFile != "":
		je := jobErr(domain.PhasePreflight, domain.CodeInputIncomplete, "%s has a backing "+
			"file (%s): it is only part of a disk; merge the chain into one image first",
			base, filepath.Base(i.BackingFile))
		return named(ErrBackingFile, je)
	case i.dataFile != "":
		return named(ErrExternalFile, jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
			"%s keeps its data in another file, %s", base, filepath.Base(i.dataFile)))
	case i.encrypted:
		return jobErr(domain.PhasePreflight, domain.CodeUnsupportedOperation,
			"%s is encrypted; encrypted images are not converted", base)
	case i.corrupt:
		return jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
			"%s is marked corrupt by qemu", base)
	}
	for _, e := range i.Extents {
		if err := confineExtent(i.Path, e); err != nil {
			return err
		}
	}
	return nil
}

// sourceFile makes path absolute and checks that it is a regular, non-empty file.
func sourceFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", osError(domain.PhasePreflight, "resolve source path", err, names(path))
	}
	fi, err := os.Stat(abs)
	base := filepath.Base(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", jobErr(domain.PhasePreflight, domain.CodeInputNotFound,
			"source image %s not found", base)
	case err != nil:
		return "", osError(domain.PhasePreflight, "stat source image", err, names(abs))
	case !fi.Mode().IsRegular():
		return "", jobErr(domain.PhasePreflight, domain.CodeInputNotFound,
			"source image %s is not a regular file", base)
	case fi.Size() == 0:
		return "", jobErr(domain.PhasePreflight, domain.CodeInputIncomplete,
			"source image %s is empty", base)
	}
	return abs, nil
}
