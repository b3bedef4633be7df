package imagetool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// scriptedQemu answers info, check and map as for a healthy VMDK and lets convert do what
// the test says.
func scriptedQemu(t *testing.T, convert func(ctx context.Context, cmd Command) error) *Tool {
	info, err := os.ReadFile("testdata/info-vmdk.json")
	if err != nil {
		t.Fatal(err)
	}
	return newFake(t, func(ctx context.Context, sub string, cmd Command) error {
		switch sub {
		case "info":
			_, err := cmd.Stdout.Write(info)
			return err
		case "check", "map":
			return nil
		case "convert":
			return convert(ctx, cmd)
		}
		return fmt.Errorf("unexpected qemu-img %s", sub)
	})
}

// sourceVMDK creates a file for the fake to "convert": only its existence and first bytes
// are read before qemu-img.
func sourceVMDK(t *testing.T) (dir, src string) {
	dir = t.TempDir()
	src = filepath.Join(dir, "job-42", "disk.vmdk")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src, append([]byte("KDMV"), make([]byte, 1020)...), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, src
}

func TestConvertToolFailuresAreClassified(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stderr string
		code   domain.ResultCode
	}{
		{"qemu-img: error while writing at byte 67108864: No space left on device",
			domain.CodeInsufficientSpace},
		{"qemu-img: error while reading at byte 10944512: Invalid argument",
			domain.CodeInputIncomplete},
		{"qemu-img: error while reading at byte 0: Input/output error",
			domain.CodeExecutionFailed},
		{"qemu-img: Failed to get \"write\" lock\nIs another process using the image?",
			domain.CodeExecutionFailed},
	}
	for _, c := range cases {
		dir, src := sourceVMDK(t)
		tool := scriptedQemu(t, func(_ context.Context, cmd Command) error {
			out := cmd.Args[len(cmd.Args)-1]
			// The tool names other paths, too; none may reach the message.
			return &ExitError{Name: "qemu-img", Code: 1, State: "exit status 1",
				Stderr: "qemu-img: /srv/jobs/other-job/disk.vmdk: note\n" +
					strings.ReplaceAll(c.stderr, "byte", "byte (in "+out+")")}
		})
		dst := filepath.Join(dir, "out", "disk.qcow2")
		os.MkdirAll(filepath.Dir(dst), 0o755)
		_, err := tool.Convert(context.Background(), ConvertRequest{Src: src, SrcFormat: "vmdk",
			Dst: dst, DstFormat: "qcow2"}, nil)
		je := wantCode(t, err, c.code)
		if strings.Contains(je.Message, dir) || je.Phase != domain.PhaseConversion {
			t.Errorf("message %q phase %s: want no full paths, phase conversion", je.Message,
				je.Phase)
		}
		if l := leftovers(t, filepath.Dir(dst)); len(l) > 0 {
			t.Errorf("partial files left: %v", l)
		}
	}
}

// A slow fake converter shows the temporary file is removed on cancel even when the tool
// has written to it.
func TestCancelWithSlowFakeRemovesPartial(t *testing.T) {
	t.Parallel()
	dir, src := sourceVMDK(t)
	tool := scriptedQemu(t, func(ctx context.Context, cmd Command) error {
		out := cmd.Args[len(cmd.Args)-1]
		if err := os.WriteFile(out, []byte("half an image"), 0o600); err != nil {
			return err
		}
		io.WriteString(cmd.Stdout, "    (10.00/100%)\r")
		<-ctx.Done()
		return fmt.Errorf("qemu-img stopped: %w", ctx.Err())
	})
	ctx, cancel := context.WithCancel(context.Background())
	dst := filepath.Join(dir, "disk.qcow2")
	_, err := tool.Convert(ctx, ConvertRequest{Src: src, Dst: dst, DstFormat: "qcow2"},
		func(p float64) {
			if p >= 10 {
				cancel()
			}
		})
	wantCode(t, err, domain.CodeCancelled)
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("partial files left: %v", l)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output exists: %v", err)
	}
}

func TestConvertRequestValidation(t *testing.T) {
	t.Parallel()
	tool := newFake(t, func(context.Context, string, Command) error {
		return errors.New("qemu-img must not run for an invalid request")
	})
	for _, req := range []ConvertRequest{
		{Src: "a", Dst: "b", DstFormat: "vmdk"},
		{Src: "a", Dst: "b", DstFormat: "raw", Compress: true},
		{Src: "", Dst: "b", DstFormat: "raw"},
		{Src: "a", Dst: "b", DstFormat: "raw", RateLimit: -1},
		{Src: "a.ova", SrcFormat: "ova", Dst: "b", DstFormat: "raw"},
	} {
		_, err := tool.Convert(context.Background(), req, nil)
		var je *domain.JobError
		if !errors.As(err, &je) || je.Phase != domain.PhasePreflight {
			t.Errorf("%+v: got %v, want a preflight job error", req, err)
		}
	}
}

func TestPathNamesClean(t *testing.T) {
	t.Parallel()
	spec := fileSpec("/data/jobs/j1/disk.vmdk", "vmdk")
	n := names("/data/jobs/j1/disk.vmdk").with(spec, "disk.vmdk")
	in := "Could not open '" + spec + "': error in /var/lib/other/x.raw (see /tmp/y)"
	want := "Could not open 'disk.vmdk': error in x.raw (see y)"
	if got := n.clean(in); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestNoSpaceOnRealTmpfs fills a small tmpfs with a real conversion. It needs root to mount.
func TestNoSpaceOnRealTmpfs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := filepath.Join(f.dir, "small")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount tmpfs here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, 0) })
	dense := layout{size: 64 * mib, stride: mib, regionLen: 512 * kib} // 32 MiB of data
	_, img := f.makeImage(t, "disk", "vmdk", dense)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := f.tool.Convert(ctx, ConvertRequest{Src: img, SrcFormat: "vmdk",
		Dst: filepath.Join(mnt, "out.raw"), DstFormat: "raw"}, nil)
	je := wantCode(t, err, domain.CodeInsufficientSpace)
	t.Logf("message: %s", je.Message)
	wantEmpty(t, mnt)
}
