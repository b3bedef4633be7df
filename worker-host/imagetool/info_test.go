package imagetool

import (
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// The JSON files are real `qemu-img info --output=json` output from qemu-img 7.2.
func readInfo(t *testing.T, name, path string) ImageInfo {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := parseInfo(data, path)
	if err != nil {
		t.Fatalf("parseInfo %s: %v", name, err)
	}
	return info
}

func TestParseInfoSamples(t *testing.T) {
	t.Parallel()
	vmdk := readInfo(t, "info-vmdk.json", "/jobs/j1/a.vmdk")
	want := ImageInfo{Path: "/jobs/j1/a.vmdk", Format: "vmdk", QemuFormat: "vmdk",
		Subformat: "monolithicSparse", VirtualSize: 64 * mib, ActualSize: 3170304}
	if !equalInfo(vmdk, want) || vmdk.refuse() != nil {
		t.Errorf("vmdk: got %+v, want %+v and accepted", vmdk, want)
	}
	vpc := readInfo(t, "info-vpc.json", "/jobs/j1/a.vhd")
	if vpc.Format != "vhd" || vpc.QemuFormat != "vpc" {
		t.Errorf("vpc: got format %s/%s, want vhd/vpc", vpc.Format, vpc.QemuFormat)
	}
}

func equalInfo(a, b ImageInfo) bool {
	return a.Path == b.Path && a.Format == b.Format && a.QemuFormat == b.QemuFormat &&
		a.Subformat == b.Subformat && a.VirtualSize == b.VirtualSize &&
		a.ActualSize == b.ActualSize && a.BackingFile == b.BackingFile &&
		slices.Equal(a.Extents, b.Extents)
}

func TestParseInfoRefusals(t *testing.T) {
	t.Parallel()
	overlay := readInfo(t, "info-qcow2-backing.json", "/jobs/j1/ov.qcow2")
	err := overlay.refuse()
	if !errors.Is(err, ErrBackingFile) || overlay.BackingFile != "a.qcow2" {
		t.Errorf("overlay: got %v, backing %q; want ErrBackingFile, a.qcow2", err,
			overlay.BackingFile)
	}
	// Checked again after qemu-img info, in case the descriptor scan ever misses one.
	flat := readInfo(t, "info-vmdk-flat-external.json", "/jobs/j1/flat.vmdk")
	err = flat.refuse()
	if !errors.Is(err, ErrExternalFile) {
		t.Errorf("external extent: got %v, want ErrExternalFile", err)
	}
	wantCode(t, err, domain.CodeInputIncomplete)
}

func TestParseInfoRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "{}", "[1]", `{"format": 3}`} {
		if _, err := parseInfo([]byte(in), "/x"); err == nil {
			t.Errorf("parseInfo(%q): got no error", in)
		}
	}
}

func FuzzParseInfo(f *testing.F) {
	for _, name := range []string{"info-vmdk.json", "info-vpc.json", "info-qcow2-backing.json",
		"info-vmdk-flat-external.json"} {
		if data, err := os.ReadFile("testdata/" + name); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := parseInfo(data, "/jobs/j1/disk.img")
		if err != nil {
			return
		}
		if info.Format == "" {
			t.Fatal("accepted info without a format")
		}
		_ = info.refuse()
	})
}

// map-vdi.json is real `qemu-img map --output=json` output for a 3 MiB VDI.
func TestEOFScannerOnRealMap(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/map-vdi.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		size   int64
		beyond bool
	}{{3146752, false}, {3146751, true}, {1573376, true}} {
		s := eofScanner{size: c.size}
		w := newLineWriter(s.line)
		for i := 0; i < len(data); i += 7 { // arbitrary chunking
			w.Write(data[i:min(i+7, len(data))])
		}
		w.Flush()
		if got := s.found != nil; got != c.beyond {
			t.Errorf("file of %d bytes: got beyond=%v, want %v", c.size, got, c.beyond)
		}
	}
}

// compare-mismatch.txt is real `qemu-img compare -p` output for two different images.
func TestCompareOutputSample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/compare-mismatch.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := LastLine(string(data)), "Content mismatch at offset 67125248!"; got != want {
		t.Errorf("LastLine: got %q, want %q", got, want)
	}
	if got := parseAll(data); got[len(got)-1] != 100 {
		t.Errorf("progress: got %v, want it to reach 100", got)
	}
}
