package imagetool

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// member is one entry of a test OVA: data, or the contents of file.
type member struct {
	name     string
	data     []byte
	file     string
	typeflag byte
	link     string
}

func writeOVA(t *testing.T, path string, members ...member) {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	for _, m := range members {
		data := m.data
		if m.file != "" {
			if data, err = os.ReadFile(m.file); err != nil {
				t.Fatal(err)
			}
		}
		hdr := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(data)),
			Typeflag: m.typeflag, Linkname: m.link}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size, data = 0, nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// ovaFixture is a two-disk OVA made of stream-optimized VMDKs, as VMware exports them.
type ovaFixture struct {
	*fixture
	ovf                []byte
	system, data       string // the VMDKs
	systemRaw, dataRaw string // their raw originals
	systemSum, dataSum string
	out                string // extraction folder
}

func setupOVA(t *testing.T) *ovaFixture {
	t.Helper()
	f := setup(t)
	o := &ovaFixture{fixture: f, out: filepath.Join(f.dir, "extracted")}
	stream := []string{"-o", "subformat=streamOptimized"}
	o.systemRaw, o.system = f.makeImage(t, "system", "vmdk", smallDisk, stream...)
	other := layout{size: 32 * mib, stride: 3 * mib, regionLen: 100 * kib}
	o.dataRaw, o.data = f.makeImage(t, "data", "vmdk", other, stream...)
	o.systemSum, o.dataSum = sha256Hex(t, o.system), sha256Hex(t, o.data)
	var err error
	if o.ovf, err = os.ReadFile("testdata/two-disks.ovf"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(o.out, 0o755); err != nil {
		t.Fatal(err)
	}
	return o
}

func sha256Hex(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func (o *ovaFixture) manifest(systemSum string) []byte {
	return fmt.Appendf(nil, "SHA256(vm.ovf)= %x\nSHA256(system.vmdk)= %s\nSHA256(data.vmdk)= %s\n",
		sha256.Sum256(o.ovf), systemSum, o.dataSum)
}

// build writes the OVA in archive order: descriptor, manifest, data disk, system disk.
func (o *ovaFixture) build(t *testing.T, mf []byte) string {
	t.Helper()
	path := filepath.Join(o.dir, "vm.ova")
	writeOVA(t, path, member{name: "vm.ovf", data: o.ovf}, member{name: "vm.mf", data: mf},
		member{name: "data.vmdk", file: o.data}, member{name: "system.vmdk", file: o.system})
	return path
}

func TestOVAExtractOrderAndConvert(t *testing.T) {
	t.Parallel()
	o := setupOVA(t)
	ova := o.build(t, o.manifest(o.systemSum))
	ctx := context.Background()
	disks, err := o.tool.ExtractOVADisks(ctx, ova, o.out)
	if err != nil {
		t.Fatalf("ExtractOVADisks: %v", err)
	}
	want := []string{filepath.Join(o.out, "system.vmdk"), filepath.Join(o.out, "data.vmdk")}
	if !slices.Equal(disks, want) {
		t.Fatalf("disks: got %v, want %v (descriptor order, not archive order)", disks, want)
	}
	for i, raw := range []string{o.systemRaw, o.dataRaw} {
		dst := filepath.Join(o.dir, fmt.Sprintf("disk%d.qcow2", i))
		res, err := o.tool.Convert(ctx, ConvertRequest{Src: disks[i], SrcFormat: "vmdk",
			Dst: dst, DstFormat: "qcow2"}, nil)
		if err != nil {
			t.Fatalf("Convert %s: %v", disks[i], err)
		}
		if res.Source.Subformat != "streamOptimized" {
			t.Errorf("subformat: got %q, want streamOptimized", res.Source.Subformat)
		}
		if same, err := o.tool.Compare(ctx, raw, "raw", dst, "qcow2"); !same {
			t.Errorf("disk %d differs from its original: %v", i, err)
		}
	}
}

func TestOVAManifestMismatch(t *testing.T) {
	t.Parallel()
	o := setupOVA(t)
	ova := o.build(t, o.manifest(o.dataSum)) // the system disk's digest is wrong
	_, err := o.tool.ExtractOVADisks(context.Background(), ova, o.out)
	je := wantCode(t, err, domain.CodeChecksumMismatch)
	if je.Details["actual"] != o.systemSum {
		t.Errorf("details: got %v, want actual %s", je.Details, o.systemSum)
	}
	wantEmpty(t, o.out)
}

func TestOVAManifestAfterDisks(t *testing.T) {
	t.Parallel()
	o := setupOVA(t)
	for _, c := range []struct {
		sum  string
		want error
	}{{o.systemSum, nil}, {o.dataSum, errors.New("mismatch")}} {
		ova := filepath.Join(o.dir, "late.ova")
		writeOVA(t, ova, member{name: "vm.ovf", data: o.ovf},
			member{name: "system.vmdk", file: o.system}, member{name: "data.vmdk", file: o.data},
			member{name: "vm.mf", data: o.manifest(c.sum)})
		_, err := o.tool.ExtractOVADisks(context.Background(), ova, o.out)
		if c.want == nil && err != nil {
			t.Fatalf("late manifest, right digests: %v", err)
		}
		if c.want != nil {
			wantCode(t, err, domain.CodeChecksumMismatch)
		}
	}
}

func TestOVAGzipMember(t *testing.T) {
	t.Parallel()
	o := setupOVA(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	raw, err := os.ReadFile(o.data)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(raw)
	zw.Close()
	ovf := `<Envelope><References><File id="f" href="data.vmdk" compression="gzip"/>` +
		`</References></Envelope>`
	ova := filepath.Join(o.dir, "gz.ova")
	writeOVA(t, ova, member{name: "vm.ovf", data: []byte(ovf)},
		member{name: "data.vmdk", data: gz.Bytes()})
	disks, err := o.tool.ExtractOVADisks(context.Background(), ova, o.out)
	if err != nil {
		t.Fatalf("ExtractOVADisks: %v", err)
	}
	if got := sha256Hex(t, disks[0]); got != o.dataSum {
		t.Errorf("extracted disk: got sha256 %s, want %s", got, o.dataSum)
	}
}

func TestOVAUnsafeMembers(t *testing.T) {
	t.Parallel()
	f := setup(t)
	disk := []byte("not really a disk")
	cases := map[string]member{
		"absolute":  {name: "/tmp/evil.vmdk", data: disk},
		"dotdot":    {name: "../evil.vmdk", data: disk},
		"inner":     {name: "a/../../evil.vmdk", data: disk},
		"nested":    {name: "disks/a.vmdk", data: disk},
		"symlink":   {name: "a.vmdk", typeflag: tar.TypeSymlink, link: "/etc/passwd"},
		"hardlink":  {name: "a.vmdk", typeflag: tar.TypeLink, link: "vm.ovf"},
		"directory": {name: "dir/", typeflag: tar.TypeDir},
		"device":    {name: "a.vmdk", typeflag: tar.TypeChar},
		"backslash": {name: `..\evil.vmdk`, data: disk},
	}
	for name, m := range cases {
		ova := filepath.Join(f.dir, name+".ova")
		out := filepath.Join(f.dir, name)
		if err := os.Mkdir(out, 0o755); err != nil {
			t.Fatal(err)
		}
		writeOVA(t, ova, member{name: "first.vmdk", data: disk}, m)
		_, err := f.tool.ExtractOVADisks(context.Background(), ova, out)
		if !errors.Is(err, ErrUnsafeEntry) {
			t.Errorf("%s: got %v, want ErrUnsafeEntry", name, err)
			continue
		}
		wantCode(t, err, domain.CodeValidationFailed)
		wantEmpty(t, out) // first.vmdk, already extracted, is removed again
	}
	if _, err := os.Stat(filepath.Join(f.dir, "evil.vmdk")); err == nil {
		t.Error("a member was written outside the destination")
	}
}

func TestOVADuplicateMember(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ova := filepath.Join(f.dir, "dup.ova")
	writeOVA(t, ova, member{name: "a.vmdk", data: []byte("1")},
		member{name: "./a.vmdk", data: []byte("2")})
	_, err := f.tool.ExtractOVADisks(context.Background(), ova, f.dir)
	if !errors.Is(err, ErrUnsafeEntry) {
		t.Fatalf("got %v, want ErrUnsafeEntry", err)
	}
}

func TestOVATruncated(t *testing.T) {
	t.Parallel()
	o := setupOVA(t)
	ova := o.build(t, o.manifest(o.systemSum))
	fi, err := os.Stat(ova)
	if err != nil {
		t.Fatal(err)
	}
	// Mid-member, and just after the descriptor and manifest (a clean member boundary).
	for _, keep := range []int64{fi.Size() - 100*kib, 3*512 + 1024 + 1024} {
		cut := filepath.Join(o.dir, "cut.ova")
		copyFileT(t, ova, cut, keep)
		_, err := o.tool.ExtractOVADisks(context.Background(), cut, o.out)
		je := wantCode(t, err, domain.CodeInputIncomplete)
		t.Logf("kept %d bytes: %s", keep, je.Message)
		wantEmpty(t, o.out)
	}
}

func TestOVAWithoutDisks(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ova := filepath.Join(f.dir, "empty.ova")
	writeOVA(t, ova, member{name: "vm.ovf", data: []byte("<Envelope/>")},
		member{name: "cd.iso", data: []byte("iso")})
	_, err := f.tool.ExtractOVADisks(context.Background(), ova, f.dir)
	wantCode(t, err, domain.CodeInputIncomplete)
	_, err = f.tool.ExtractOVADisks(context.Background(), filepath.Join(f.dir, "no.ova"), f.dir)
	wantCode(t, err, domain.CodeInputNotFound)
}

func TestOVACancelled(t *testing.T) {
	t.Parallel()
	o := setupOVA(t)
	ova := o.build(t, o.manifest(o.systemSum))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := o.tool.ExtractOVADisks(ctx, ova, o.out)
	wantCode(t, err, domain.CodeCancelled)
	wantEmpty(t, o.out)
}

func wantEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("%s: got %d files left, want none (first: %s)", dir, len(entries),
			entries[0].Name())
	}
}

func TestOVALacksReferencedDisk(t *testing.T) {
	t.Parallel()
	o := setupOVA(t)
	ova := filepath.Join(o.dir, "short.ova")
	writeOVA(t, ova, member{name: "vm.ovf", data: o.ovf}, member{name: "data.vmdk", file: o.data})
	_, err := o.tool.ExtractOVADisks(context.Background(), ova, o.out)
	je := wantCode(t, err, domain.CodeInputIncomplete)
	if want := "OVA lacks system.vmdk, which its descriptor references"; je.Message != want {
		t.Errorf("message: got %q, want %q", je.Message, want)
	}
	wantEmpty(t, o.out)
}
