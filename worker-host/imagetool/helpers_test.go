package imagetool

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// fixture is what a test against the real qemu-img needs.
type fixture struct {
	tool *Tool
	dir  string
}

// setup returns a Tool running the real qemu-img, with progress unthrottled so tests see
// every value, and a fresh folder. Tests skip where qemu-img is not installed.
func setup(t *testing.T) *fixture {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed: apt-get install qemu-utils")
	}
	tool, err := New(Config{Logger: testLogger(t), ProgressInterval: -1, ProgressStep: -1,
		Runner: &ExecRunner{Grace: time.Second, Logger: testLogger(t)}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &fixture{tool: tool, dir: t.TempDir()}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// layout says where a test image holds data: regionLen bytes of pattern every stride bytes,
// holes in between, so images are sparse like real disks yet have content to compare.
type layout struct {
	size, stride, regionLen int64
}

var smallDisk = layout{size: 64 * mib, stride: 5 * mib, regionLen: 300 * kib}

// writeRaw writes a raw image with a pattern that differs per region, so a misplaced block
// cannot compare equal.
func writeRaw(t *testing.T, path string, l layout) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(l.size); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, l.regionLen)
	for off := int64(0); off+l.regionLen <= l.size; off += l.stride {
		for i := range buf {
			buf[i] = byte((int64(i)*31 + off/l.stride*7 + 1) % 251)
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
}

// makeImage writes a raw pattern image and converts it to qemuFormat with qemu-img itself,
// returning the raw original and the image.
func (f *fixture) makeImage(t *testing.T, name, qemuFormat string, l layout,
	opts ...string) (raw, img string) {
	t.Helper()
	raw = filepath.Join(f.dir, name+".src.raw")
	writeRaw(t, raw, l)
	img = filepath.Join(f.dir, name+"."+qemuFormat)
	if qemuFormat == "raw" {
		return raw, raw
	}
	args := append([]string{"convert", "-q", "-f", "raw", "-O", qemuFormat}, opts...)
	qemuImg(t, append(args, raw, img)...)
	return raw, img
}

func qemuImg(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
	}
}

// wantCode fails unless err carries a JobError with the given code.
func wantCode(t *testing.T, err error, code domain.ResultCode) *domain.JobError {
	t.Helper()
	var je *domain.JobError
	if !errors.As(err, &je) {
		t.Fatalf("got error %v, want a *domain.JobError with code %s", err, code)
	}
	if je.Code != code {
		t.Fatalf("got code %s (%s), want %s", je.Code, je.Message, code)
	}
	return je
}

// leftovers lists files in dir that look like unfinished output.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.partial-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func copyFileT(t *testing.T, src, dst string, limit int64) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.LimitReader(in, limit)); err != nil {
		t.Fatal(err)
	}
}

// fakeRunner answers each qemu-img subcommand from a table, for tests that need a tool
// failure or timing the real one cannot be made to produce.
type fakeRunner struct {
	answer func(ctx context.Context, sub string, cmd Command) error
}

func (r fakeRunner) Run(ctx context.Context, cmd Command) error {
	return r.answer(ctx, cmd.Args[0], cmd)
}

func newFake(t *testing.T, answer func(ctx context.Context, sub string, cmd Command) error) *Tool {
	t.Helper()
	tool, err := New(Config{Runner: fakeRunner{answer}, Logger: testLogger(t),
		ProgressInterval: -1, ProgressStep: -1})
	if err != nil {
		t.Fatal(err)
	}
	return tool
}
