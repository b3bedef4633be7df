package probe

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/worker-host/imagetool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tree builds a fake root with the given files (a trailing slash makes a folder).
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	adminStatus = "Name:\tworker\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"
	plainStatus = "Name:\tworker\nCapEff:\t0000000000000000\n"
	meminfo     = "MemTotal:       32617916 kB\nMemFree:        1000 kB\n"
)

// fakeVersion answers qemu-img --version like qemu 7.2 does.
type fakeVersion struct{ err error }

func (f fakeVersion) Run(_ context.Context, cmd imagetool.Command) error {
	if f.err != nil {
		return f.err
	}
	_, err := io.WriteString(cmd.Stdout, "qemu-img version 7.2.22 (Debian 1:7.2+dfsg-7)\n"+
		"Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n")
	return err
}

// onPath fakes PATH with the given programs.
func onPath(tools ...string) func(string) (string, error) {
	return func(name string) (string, error) {
		for _, t := range tools {
			if t == name {
				return "/usr/bin/" + name, nil
			}
		}
		return "", exec.ErrNotFound
	}
}

func fakeOptions(root string, runner imagetool.Runner, tools ...string) Options {
	return Options{Root: root, WorkDir: "/work", Runner: runner, LookPath: onPath(tools...),
		Uname:     func() (string, string, error) { return "6.1.0-test", "host-a", nil },
		FreeBytes: func(string) (uint64, error) { return 500*gib + gib/2, nil }}
}

func TestProbeEverythingPresent(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{
		"sys/module/nbd/": "", "dev/nbd0": "", "dev/mapper/control": "",
		"proc/modules":     "dm_mod 184320 0 - Live 0x0\nnbd 53248 0 - Live 0x0\n",
		"proc/self/status": adminStatus,
		"dev/loop-control": "",
		"proc/meminfo":     meminfo,
	})
	r := Probe(context.Background(), fakeOptions(root, fakeVersion{},
		"qemu-nbd", "lvm", "restorecon"))
	for name, c := range map[string]Check{"nbd": r.NBD, "lvm": r.LVM, "mount": r.Mount,
		"selinux": r.SELinux, "qemu_img": r.QemuImg} {
		if !c.OK {
			t.Errorf("%s: got absent (%s), want present", name, c.Reason)
		}
	}
	if r.QemuImg.Reason != "qemu-img 7.2.22" {
		t.Errorf("qemu_img reason: got %q, want %q", r.QemuImg.Reason, "qemu-img 7.2.22")
	}
	if r.MemoryGB != 31 || r.DiskSpaceGB != 500 || r.KernelVersion != "6.1.0-test" ||
		r.Hostname != "host-a" {
		t.Errorf("resources: got %d GB memory, %d GB disk, %q, %q; want 31, 500, "+
			"6.1.0-test, host-a", r.MemoryGB, r.DiskSpaceGB, r.KernelVersion, r.Hostname)
	}
}

func TestProbeEverythingAbsent(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{"proc/self/status": plainStatus})
	r := Probe(context.Background(), fakeOptions(root, fakeVersion{err: exec.ErrNotFound}))
	want := map[string]Check{
		"nbd":      {Reason: "no nbd kernel module: /sys/module/nbd absent"},
		"lvm":      {Reason: "no device-mapper: /dev/mapper/control absent"},
		"mount":    {Reason: "CAP_SYS_ADMIN not held: mounting is not permitted"},
		"selinux":  {Reason: "no SELinux tools: neither setfiles nor restorecon on PATH"},
		"qemu_img": {Reason: "qemu-img --version: executable file not found in $PATH"},
	}
	got := map[string]Check{"nbd": r.NBD, "lvm": r.LVM, "mount": r.Mount,
		"selinux": r.SELinux, "qemu_img": r.QemuImg}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %+v, want %+v", name, got[name], w)
		}
	}
	if r.MemoryGB != 0 || r.Capabilities() != (domain.Capabilities{}) {
		t.Errorf("got %d GB, %+v; want 0 GB and no capabilities", r.MemoryGB, r.Capabilities())
	}
}

// Each capability is only as good as its weakest part; these trees lack one part each.
func TestProbePartialCapabilities(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		files map[string]string
		tools []string
		check func(Report) Check
		want  string
	}{
		{"nbd without device node", map[string]string{"sys/block/nbd0/": ""},
			[]string{"qemu-nbd"}, func(r Report) Check { return r.NBD },
			"nbd module loaded but /dev/nbd0 absent"},
		{"nbd without qemu-nbd", map[string]string{"sys/module/nbd/": "", "dev/nbd0": ""},
			nil, func(r Report) Check { return r.NBD },
			"nbd module loaded but qemu-nbd not on PATH"},
		{"dm node without module", map[string]string{"dev/mapper/control": "",
			"proc/modules": "loop 1 0 - Live 0x0\n"}, []string{"lvm"},
			func(r Report) Check { return r.LVM },
			"no device-mapper: dm_mod not in /proc/modules or /sys/module"},
		{"dm without lvm", map[string]string{"dev/mapper/control": "",
			"sys/module/dm_mod/": ""}, nil, func(r Report) Check { return r.LVM },
			"device-mapper present but lvm not on PATH"},
		{"admin without loop", map[string]string{"proc/self/status": adminStatus}, nil,
			func(r Report) Check { return r.Mount },
			"no loop devices: /dev/loop-control absent"},
	}
	for _, c := range cases {
		r := Probe(context.Background(), fakeOptions(tree(t, c.files), fakeVersion{},
			c.tools...))
		if got := c.check(r); got.OK || got.Reason != c.want {
			t.Errorf("%s: got %+v, want absent with %q", c.name, got, c.want)
		}
	}
}

func TestReportFeedsRegistration(t *testing.T) {
	t.Parallel()
	r := Report{NBD: Check{OK: true}, QemuImg: Check{OK: true}, MemoryGB: 64,
		DiskSpaceGB: 900, KernelVersion: "6.1", Hostname: "h"}
	var reg domain.Registration
	r.Fill(&reg)
	if !reg.Capabilities.NBD || reg.Capabilities.LVM || !reg.Capabilities.QemuImg ||
		reg.MemoryGB != 64 || reg.DiskSpaceGB != 900 || reg.Hostname != "h" {
		t.Errorf("got %+v", reg)
	}
}

// TestProbeThisMachine runs the real probe: qemu-img is installed here, and nbd must be
// reported exactly as the kernel has it (these build machines have no nbd module).
func TestProbeThisMachine(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed")
	}
	r := Probe(context.Background(), Options{WorkDir: t.TempDir()})
	t.Logf("report: %+v", r)
	if !r.QemuImg.OK || !strings.HasPrefix(r.QemuImg.Reason, "qemu-img ") {
		t.Errorf("qemu_img: got %+v, want present with its version", r.QemuImg)
	}
	if want := present("/sys/module/nbd") && present("/dev/nbd0") &&
		onRealPath("qemu-nbd"); r.NBD.OK != want {
		t.Errorf("nbd: got %+v, want ok=%v from /sys/module/nbd, /dev/nbd0 and qemu-nbd",
			r.NBD, want)
	}
	if !present("/sys/module/nbd") && !present("/sys/block/nbd0") &&
		r.NBD.Reason != "no nbd kernel module: /sys/module/nbd absent" {
		t.Errorf("nbd reason: got %q", r.NBD.Reason)
	}
	if !present("/dev/mapper/control") && r.LVM.OK {
		t.Errorf("lvm: got present without /dev/mapper/control")
	}
	if r.MemoryGB < 1 || r.KernelVersion == "" || r.Hostname == "" {
		t.Errorf("resources: got %+v", r)
	}
}

func present(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func onRealPath(tool string) bool {
	_, err := exec.LookPath(tool)
	return err == nil
}
