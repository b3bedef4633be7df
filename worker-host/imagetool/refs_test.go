package imagetool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// flatVMDK writes a monolithicFlat descriptor whose one extent is named extent.
func flatVMDK(t *testing.T, path, extent string, sectors int) {
	t.Helper()
	desc := "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n" +
		"createType=\"monolithicFlat\"\n\n# Extent description\n" +
		"RW " + strconv.Itoa(sectors) + " FLAT \"" + extent + "\" 0\n\n" +
		"ddb.adapterType = \"ide\"\n"
	if err := os.WriteFile(path, []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFlatVMDKInOwnFolderConverts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw, _ := f.makeImage(t, "disk", "raw", smallDisk)
	desc := filepath.Join(f.dir, "disk.vmdk")
	flatVMDK(t, desc, filepath.Base(raw), int(smallDisk.size/512))
	dst := filepath.Join(f.dir, "out.qcow2")
	res, err := f.tool.Convert(context.Background(), ConvertRequest{Src: desc,
		SrcFormat: "vmdk", Dst: dst, DstFormat: "qcow2"}, nil)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	if !slices.Equal(res.Source.Extents, []string{raw}) {
		t.Errorf("extents: got %v, want [%s]", res.Source.Extents, raw)
	}
	if same, err := f.tool.Compare(context.Background(), raw, "raw", dst, "qcow2"); !same {
		t.Errorf("Compare: got %v, %v", same, err)
	}
}

// countingRunner records the subcommands that reached qemu-img.
type countingRunner struct {
	Runner
	calls *[]string
}

func (c countingRunner) Run(ctx context.Context, cmd Command) error {
	*c.calls = append(*c.calls, cmd.Args[0])
	return c.Runner.Run(ctx, cmd)
}

// A descriptor naming a file elsewhere, or a protocol, must be refused before qemu-img
// opens it: qemu-img info alone would already read or connect to it.
func TestExtentOutsideFolderRefusedBeforeQemu(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var calls []string
	tool, err := New(Config{Runner: countingRunner{&ExecRunner{}, &calls}})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(t.TempDir(), "other-job.raw")
	writeRaw(t, elsewhere, smallDisk)
	link := filepath.Join(f.dir, "link.raw")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	for _, extent := range []string{elsewhere, "../x/other-job.raw", "link.raw",
		"nbd:127.0.0.1:10809", "json:{\"driver\":\"file\"}"} {
		desc := filepath.Join(f.dir, "evil.vmdk")
		flatVMDK(t, desc, extent, int(smallDisk.size/512))
		_, err := tool.Info(context.Background(), desc)
		if !errors.Is(err, ErrExternalFile) {
			t.Errorf("extent %q: got %v, want ErrExternalFile", extent, err)
			continue
		}
		je := wantCode(t, err, domain.CodeInputIncomplete)
		if strings.Contains(je.Message, f.dir) || strings.Contains(je.Message, elsewhere) {
			t.Errorf("message %q reveals a full path", je.Message)
		}
	}
	if len(calls) > 0 {
		t.Errorf("qemu-img ran %v; want the descriptor refused before", calls)
	}
}

func TestDescriptorExtents(t *testing.T) {
	t.Parallel()
	desc := "# Disk DescriptorFile\r\nversion=1\r\n" +
		"RW 8 SPARSE \"a-s001.vmdk\"\r\n  RDONLY 8 FLAT \"/abs/b.raw\" 0\r\n" +
		"NOACCESS 8 ZERO\r\nRWX 8 FLAT \"not-an-extent\"\r\n# RW 8 FLAT \"comment.raw\"\r\n" +
		"\x00\x00RW 8 FLAT \"after-padding.raw\"\n"
	got := DescriptorExtents(strings.NewReader(desc))
	if want := []string{"a-s001.vmdk", "/abs/b.raw"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func FuzzDescriptorExtents(f *testing.F) {
	f.Add("RW 2048 FLAT \"x.raw\" 0\nRDONLY 1 SPARSE \"y\"\n")
	f.Add("\x00RW 1 FLAT \"z\"")
	f.Fuzz(func(t *testing.T, desc string) {
		for _, name := range DescriptorExtents(strings.NewReader(desc)) {
			if strings.ContainsAny(name, "\"\r\n") {
				t.Fatalf("extent name %q spans a quote or line", name)
			}
		}
	})
}

func TestQcow2ExternalDataFileRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	img := filepath.Join(f.dir, "split.qcow2")
	data := filepath.Join(f.dir, "split.data")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-o", "data_file="+data, img, "64M")
	_, err := f.tool.Info(context.Background(), img)
	if !errors.Is(err, ErrExternalFile) {
		t.Fatalf("got %v, want ErrExternalFile", err)
	}
}

func TestDescriptorScanSeesWhatQemuSees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"nul.vmdk": "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\n" +
			"RW 2048 FLAT \"/etc/hostname\" 0\n\x00binary tail",
		"vt.vmdk": "# Disk DescriptorFile\nversion=1\n\vRW 2048 FLAT \"/etc/hostname\" 0\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := checkReferences(p); err == nil {
			t.Errorf("%s: an extent outside the folder was not refused", name)
		}
	}
}
