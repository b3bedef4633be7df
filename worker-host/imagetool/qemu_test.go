package imagetool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// sources are the formats a worker converts, each made by qemu-img from a raw pattern.
var sources = []struct {
	ours, qemu string
	opts       []string
}{
	{"vmdk", "vmdk", nil},
	{"vmdk", "vmdk", []string{"-o", "subformat=streamOptimized"}},
	{"vhd", "vpc", nil},
	{"vhd", "vpc", []string{"-o", "subformat=fixed"}},
	{"vdi", "vdi", nil},
	{"vhdx", "vhdx", nil},
	{"qcow2", "qcow2", nil},
	{"raw", "raw", nil},
}

func TestConvertEachFormatToEachOutput(t *testing.T) {
	t.Parallel()
	for _, src := range sources {
		for _, out := range domain.OutputFormats {
			name := src.qemu + "-" + out
			if len(src.opts) > 0 {
				name += "-" + src.opts[1]
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := setup(t)
				raw, img := f.makeImage(t, "disk", src.qemu, smallDisk, src.opts...)
				dst := filepath.Join(f.dir, "out."+out)
				var got []float64
				res, err := f.tool.Convert(context.Background(), ConvertRequest{Src: img,
					SrcFormat: src.ours, Dst: dst, DstFormat: out},
					func(p float64) { got = append(got, p) })
				if err != nil {
					t.Fatalf("Convert: %v", err)
				}
				checkConverted(t, f, res, src.ours, raw, dst, out)
				checkMonotonic(t, got)
			})
		}
	}
}

func checkConverted(t *testing.T, f *fixture, res ConvertResult, srcFormat, raw, dst,
	out string) {
	t.Helper()
	ctx := context.Background()
	if res.Source.Format != srcFormat {
		t.Errorf("source format: got %s, want %s", res.Source.Format, srcFormat)
	}
	if err := f.tool.Verify(ctx, res.Source.Path, srcFormat, dst, out, nil); err != nil {
		t.Errorf("Verify against source: %v", err)
	}
	same, err := f.tool.Compare(ctx, raw, "raw", dst, out)
	if err != nil || !same {
		t.Errorf("Compare with original raw: got %v, %v; want true, nil", same, err)
	}
	info, err := f.tool.Info(ctx, dst)
	if err != nil || info.Format != out {
		t.Errorf("output Info: got %q, %v; want %s", info.Format, err, out)
	}
	if l := leftovers(t, f.dir); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
}

func checkMonotonic(t *testing.T, got []float64) {
	t.Helper()
	if len(got) == 0 || got[len(got)-1] != 100 {
		t.Fatalf("progress %v: want it to end at 100", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("progress %v: not rising at %d", got, i)
		}
	}
}

func TestCompressedQcow2Output(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw, img := f.makeImage(t, "disk", "vmdk", smallDisk)
	dst := filepath.Join(f.dir, "out.qcow2")
	_, err := f.tool.Convert(context.Background(), ConvertRequest{Src: img, SrcFormat: "vmdk",
		Dst: dst, DstFormat: "qcow2", Compress: true}, nil)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	if same, err := f.tool.Compare(context.Background(), raw, "raw", dst, "qcow2"); !same {
		t.Fatalf("Compare: got %v, %v; want true", same, err)
	}
}

func TestTamperedOutputFailsVerification(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, img := f.makeImage(t, "disk", "vmdk", smallDisk)
	dst := filepath.Join(f.dir, "out.raw")
	ctx := context.Background()
	req := ConvertRequest{Src: img, SrcFormat: "vmdk", Dst: dst, DstFormat: "raw"}
	if _, err := f.tool.Convert(ctx, req, nil); err != nil {
		t.Fatalf("Convert: %v", err)
	}
	flipByte(t, dst, smallDisk.stride*3+100)
	same, err := f.tool.Compare(ctx, img, "vmdk", dst, "raw")
	if err != nil || same {
		t.Fatalf("Compare tampered: got %v, %v; want false, nil", same, err)
	}
	je := wantCode(t, f.tool.Verify(ctx, img, "vmdk", dst, "raw", nil),
		domain.CodeVerificationFailed)
	if je.Phase != domain.PhaseVerification {
		t.Errorf("phase: got %s, want verification", je.Phase)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	b := make([]byte, 1)
	if _, err := fh.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := fh.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// Truncated images are the case qemu-img convert gets wrong by itself: for most formats it
// reads the missing data as zeros and exits 0.
func TestTruncatedImagesAreIncomplete(t *testing.T) {
	t.Parallel()
	for _, src := range sources {
		if src.ours == "raw" || (src.ours == "vhd" && len(src.opts) > 0) {
			continue // a raw or fixed VHD cut short is still a valid, smaller image
		}
		name := src.qemu
		if len(src.opts) > 0 {
			name += "-" + src.opts[1]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			_, img := f.makeImage(t, "disk", src.qemu, smallDisk, src.opts...)
			fi, err := os.Stat(img)
			if err != nil {
				t.Fatal(err)
			}
			cut := filepath.Join(f.dir, "cut."+src.qemu)
			copyFileT(t, img, cut, fi.Size()*2/3)
			dst := filepath.Join(f.dir, "out.qcow2")
			_, err = f.tool.Convert(context.Background(), ConvertRequest{Src: cut,
				SrcFormat: src.ours, Dst: dst, DstFormat: "qcow2"}, nil)
			je := wantCode(t, err, domain.CodeInputIncomplete)
			t.Logf("message: %s", je.Message)
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output exists after failure: %v", err)
			}
		})
	}
}

func TestTruncatedVMDKAtSeveralPoints(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, img := f.makeImage(t, "disk", "vmdk", smallDisk)
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []int64{600, 64 * kib, fi.Size() / 2, fi.Size() - 4*kib} {
		cut := filepath.Join(f.dir, "cut.vmdk")
		copyFileT(t, img, cut, keep)
		_, err := f.tool.Preflight(context.Background(), cut, "vmdk")
		je := wantCode(t, err, domain.CodeInputIncomplete)
		t.Logf("kept %d bytes: %s", keep, je.Message)
	}
}

func TestWrongDeclaredFormat(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, vmdk := f.makeImage(t, "disk", "vmdk", smallDisk)
	raw, _ := f.makeImage(t, "plain", "raw", smallDisk)
	ctx := context.Background()
	for _, c := range []struct{ path, declared, probed string }{
		{vmdk, "vdi", "vmdk"}, {vmdk, "raw", "vmdk"}, {raw, "vmdk", "raw"}, {raw, "vhd", "raw"},
	} {
		_, err := f.tool.Convert(ctx, ConvertRequest{Src: c.path, SrcFormat: c.declared,
			Dst: filepath.Join(f.dir, "out.qcow2"), DstFormat: "qcow2"}, nil)
		je := wantCode(t, err, domain.CodeFormatMismatch)
		if je.Details["probed"] != c.probed || je.Phase != domain.PhasePreflight {
			t.Errorf("declared %s: got details %v phase %s, want probed %s in preflight",
				c.declared, je.Details, je.Phase, c.probed)
		}
	}
}

func TestMissingSource(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, err := f.tool.Convert(context.Background(), ConvertRequest{
		Src: filepath.Join(f.dir, "nope.vmdk"), Dst: filepath.Join(f.dir, "o.qcow2"),
		DstFormat: "qcow2"}, nil)
	je := wantCode(t, err, domain.CodeInputNotFound)
	if want := "source image nope.vmdk not found"; je.Message != want {
		t.Errorf("message: got %q, want %q", je.Message, want)
	}
}

func TestBackingFileIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, base := f.makeImage(t, "base", "qcow2", smallDisk)
	overlay := filepath.Join(f.dir, "overlay.qcow2")
	qemuImg(t, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", overlay)
	info, err := f.tool.Info(context.Background(), overlay)
	if !errors.Is(err, ErrBackingFile) {
		t.Fatalf("Info: got %v, want ErrBackingFile", err)
	}
	wantCode(t, err, domain.CodeInputIncomplete)
	if info.BackingFile != base {
		t.Errorf("backing file: got %q, want %q", info.BackingFile, base)
	}
	_, err = f.tool.Convert(context.Background(), ConvertRequest{Src: overlay,
		Dst: filepath.Join(f.dir, "o.raw"), DstFormat: "raw"}, nil)
	if !errors.Is(err, ErrBackingFile) {
		t.Fatalf("Convert: got %v, want ErrBackingFile", err)
	}
}

func TestFixedVHDWithoutDeclaredFormat(t *testing.T) {
	t.Parallel()
	f := setup(t)
	raw, img := f.makeImage(t, "disk", "vpc", smallDisk, "-o", "subformat=fixed")
	dst := filepath.Join(f.dir, "out.raw")
	res, err := f.tool.Convert(context.Background(), ConvertRequest{Src: img, Dst: dst,
		DstFormat: "raw"}, nil)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	if res.Source.Format != "vhd" {
		t.Errorf("probed format: got %s, want vhd (a fixed VHD probes as raw in qemu)",
			res.Source.Format)
	}
	if same, err := f.tool.Compare(context.Background(), raw, "raw", dst, "raw"); !same {
		t.Errorf("Compare: got %v, %v; want true", same, err)
	}
}

func TestCancelStopsConvertAndLeavesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	big := layout{size: 2 * gib, stride: 16 * mib, regionLen: 1 * mib}
	_, img := f.makeImage(t, "big", "vmdk", big)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dst := filepath.Join(f.dir, "out.qcow2")
	var cancelledAt time.Time
	onProgress := func(p float64) {
		if p >= 5 && cancelledAt.IsZero() {
			cancelledAt = time.Now()
			cancel()
		}
	}
	_, err := f.tool.Convert(ctx, ConvertRequest{Src: img, SrcFormat: "vmdk", Dst: dst,
		DstFormat: "qcow2", RateLimit: 64 * mib}, onProgress)
	je := wantCode(t, err, domain.CodeCancelled)
	if cancelledAt.IsZero() {
		t.Fatal("cancelled before any progress")
	}
	if d := time.Since(cancelledAt); d > 2*time.Second {
		t.Errorf("Convert returned %v after cancel; want the tool stopped at once", d)
	}
	if je.Phase != domain.PhaseConversion {
		t.Errorf("phase: got %s, want conversion", je.Phase)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output exists after cancel: %v", err)
	}
	if l := leftovers(t, f.dir); len(l) > 0 {
		t.Errorf("partial files left: %v", l)
	}
}

func TestDeadlineIsTimeout(t *testing.T) {
	t.Parallel()
	f := setup(t)
	big := layout{size: 1 * gib, stride: 16 * mib, regionLen: 1 * mib}
	_, img := f.makeImage(t, "big", "vmdk", big)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := f.tool.Convert(ctx, ConvertRequest{Src: img, SrcFormat: "vmdk",
		Dst: filepath.Join(f.dir, "o.qcow2"), DstFormat: "qcow2", RateLimit: 16 * mib}, nil)
	wantCode(t, err, domain.CodeTimeout)
	if l := leftovers(t, f.dir); len(l) > 0 {
		t.Errorf("partial files left: %v", l)
	}
}

// TestLargeConversion converts a 1 GiB VMDK and logs the time taken for the record.
func TestLargeConversion(t *testing.T) {
	t.Parallel()
	f := setup(t)
	big := layout{size: 1 * gib, stride: 4 * mib, regionLen: 1 * mib} // 256 MiB of data
	raw, img := f.makeImage(t, "big", "vmdk", big)
	for _, out := range domain.OutputFormats {
		dst := filepath.Join(f.dir, "out."+out)
		var got []float64
		start := time.Now()
		_, err := f.tool.Convert(context.Background(), ConvertRequest{Src: img,
			SrcFormat: "vmdk", Dst: dst, DstFormat: out}, func(p float64) { got = append(got, p) })
		if err != nil {
			t.Fatalf("Convert: %v", err)
		}
		took := time.Since(start)
		checkMonotonic(t, got)
		if len(got) < 5 {
			t.Errorf("progress %v: want several intermediate values", got)
		}
		start = time.Now()
		if same, err := f.tool.Compare(context.Background(), raw, "raw", dst, out); !same {
			t.Fatalf("Compare: got %v, %v; want true", same, err)
		}
		t.Logf("1 GiB vmdk (256 MiB data) -> %s: convert incl. preflight %v, compare %v, "+
			"%d progress values", out, took.Round(time.Millisecond),
			time.Since(start).Round(time.Millisecond), len(got))
	}
}
