package paths_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/worker-host/paths"
)

type fixture struct {
	in, out, outside string
	roots            paths.Roots
}

func setup(t *testing.T) fixture {
	t.Helper()
	base := t.TempDir()
	f := fixture{in: filepath.Join(base, "in"), out: filepath.Join(base, "out"),
		outside: filepath.Join(base, "secret")}
	for _, d := range []string{f.in, f.out, f.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(f.in, "disk.vmdk"))
	write(t, filepath.Join(f.outside, "other.vmdk"))
	link(t, filepath.Join(f.outside, "other.vmdk"), filepath.Join(f.in, "escape.vmdk"))
	link(t, filepath.Join(f.in, "disk.vmdk"), filepath.Join(f.in, "alias.vmdk"))
	link(t, f.outside, filepath.Join(f.out, "leak"))
	if err := syscall.Mkfifo(filepath.Join(f.in, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.roots, err = paths.New([]string{f.in}, []string{f.out}); err != nil {
		t.Fatal(err)
	}
	return f
}

func write(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func code(err error) domain.ResultCode {
	if je, ok := err.(*domain.JobError); ok {
		return je.Code
	}
	return ""
}

func TestInputPaths(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cases := map[string]domain.ResultCode{
		f.in + "/disk.vmdk":                     "",
		f.in + "/alias.vmdk":                    "",
		f.in + "/missing.vmdk":                  domain.CodeInputNotFound,
		f.in + "/escape.vmdk":                   domain.CodePathNotAllowed,
		f.in + "/../secret/other.vmdk":          domain.CodePathNotAllowed,
		f.in + "/./../in/disk.vmdk":             domain.CodePathNotAllowed,
		f.outside + "/other.vmdk":               domain.CodePathNotAllowed,
		f.outside + "/missing.vmdk":             domain.CodePathNotAllowed,
		"relative/disk.vmdk":                    domain.CodePathNotAllowed,
		"/dev/zero":                             domain.CodePathNotAllowed,
		f.in:                                    domain.CodePathNotAllowed,
		f.in + "/fifo":                          domain.CodePathNotAllowed,
		f.in + "/disk.vmdk\x00/etc/shadow":      domain.CodePathNotAllowed,
		"/proc/self/root" + f.in + "/disk.vmdk": "", // the same file, reached by a link
	}
	for p, want := range cases {
		_, err := f.roots.ResolveInput("image.path", p)
		if got := code(err); got != want {
			t.Errorf("%q: got %q (%v), want %q", p, got, err, want)
		}
	}
}

func TestOutputPaths(t *testing.T) {
	t.Parallel()
	f := setup(t)
	link(t, f.outside+"/other.vmdk", f.out+"/link.qcow2")
	cases := map[string]domain.ResultCode{
		f.out + "/new.qcow2":           "",
		f.out + "/link.qcow2":          domain.CodePathNotAllowed,
		f.out + "/leak/new.qcow2":      domain.CodePathNotAllowed,
		f.out + "/../secret/x.qcow2":   domain.CodePathNotAllowed,
		f.in + "/x.qcow2":              domain.CodePathNotAllowed,
		f.out + "/missing-dir/x.qcow2": domain.CodePathNotAllowed,
		f.out:                          domain.CodePathNotAllowed,
	}
	for p, want := range cases {
		got, err := f.roots.ResolveOutput("artifacts.output_path", p)
		if c := code(err); c != want {
			t.Errorf("%q: got %q (%v), want %q", p, c, err, want)
		}
		if want == "" && filepath.Dir(got) != f.roots.OutputRoots[0] {
			t.Errorf("%q resolved to %q, outside %q", p, got, f.roots.OutputRoots[0])
		}
	}
}

func TestFoldersOthersMayChangeAreRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	shared := filepath.Join(f.in, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(shared, "disk.vmdk"))
	_, err := f.roots.ResolveInput("image.path", filepath.Join(shared, "disk.vmdk"))
	if code(err) != domain.CodePathNotAllowed {
		t.Errorf("world-writable input folder: got %v, want PATH_NOT_ALLOWED", err)
	}
	out := filepath.Join(f.out, "drop")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o775); err != nil {
		t.Fatal(err)
	}
	_, err = f.roots.ResolveOutput("artifacts.output_path", filepath.Join(out, "x.qcow2"))
	if code(err) != domain.CodePathNotAllowed {
		t.Errorf("group-writable output folder: got %v, want PATH_NOT_ALLOWED", err)
	}
}
