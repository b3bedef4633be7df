package probe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hyper2kvm/controlplane/worker-host/imagetool"
)

// capSysAdmin is the capability bit mount(2) and loop device setup need.
const capSysAdmin = 21

// exists reports whether a host path exists. It only stats: opening a device node, even to
// read, can have effects, and other jobs may be using it.
func (h host) exists(p string) bool {
	_, err := os.Stat(h.path(p))
	return err == nil
}

func yes(format string, args ...any) Check {
	return Check{OK: true, Reason: fmt.Sprintf(format, args...)}
}
func no(format string, args ...any) Check { return Check{Reason: fmt.Sprintf(format, args...)} }

// nbd needs the kernel module (loaded or built in), its device nodes, and qemu-nbd.
func (h host) nbd() Check {
	if !h.exists("/sys/module/nbd") && !h.exists("/sys/block/nbd0") {
		return no("no nbd kernel module: /sys/module/nbd absent")
	}
	if !h.exists("/dev/nbd0") {
		return no("nbd module loaded but /dev/nbd0 absent")
	}
	p, err := h.LookPath("qemu-nbd")
	if err != nil {
		return no("nbd module loaded but qemu-nbd not on PATH")
	}
	return yes("nbd module loaded, %s", p)
}

// lvm needs device-mapper (its control node and the dm_mod module) and the lvm tool.
func (h host) lvm() Check {
	if !h.exists("/dev/mapper/control") {
		return no("no device-mapper: /dev/mapper/control absent")
	}
	if !h.exists("/sys/module/dm_mod") && !h.moduleLoaded("dm_mod") {
		return no("no device-mapper: dm_mod not in /proc/modules or /sys/module")
	}
	p, err := h.LookPath("lvm")
	if err != nil {
		return no("device-mapper present but lvm not on PATH")
	}
	return yes("device-mapper present, %s", p)
}

// moduleLoaded reports whether /proc/modules lists name.
func (h host) moduleLoaded(name string) bool {
	data, err := os.ReadFile(h.path("/proc/modules"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// mount needs CAP_SYS_ADMIN (root in a container without it cannot mount) and loop devices
// to attach raw images to.
func (h host) mount() Check {
	admin, why := h.sysAdmin()
	if !admin {
		return no("%s", why)
	}
	if !h.exists("/dev/loop-control") {
		return no("no loop devices: /dev/loop-control absent")
	}
	return yes("%s, /dev/loop-control present", why)
}

// sysAdmin reads CAP_SYS_ADMIN from the effective set in /proc/self/status, falling back
// to the user id when that cannot be read.
func (h host) sysAdmin() (bool, string) {
	data, err := os.ReadFile(h.path("/proc/self/status"))
	if err != nil {
		if os.Geteuid() == 0 {
			return true, "running as root"
		}
		return false, "not root and capabilities unreadable"
	}
	for line := range strings.Lines(string(data)) {
		hexCaps, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(hexCaps), 16, 64)
		if err == nil && caps&(1<<capSysAdmin) != 0 {
			return true, "CAP_SYS_ADMIN held"
		}
		return false, "CAP_SYS_ADMIN not held: mounting is not permitted"
	}
	return false, "no CapEff in /proc/self/status"
}

// selinux needs a relabelling tool for guest file systems.
func (h host) selinux() Check {
	for _, tool := range []string{"setfiles", "restorecon"} {
		if p, err := h.LookPath(tool); err == nil {
			return yes("%s", p)
		}
	}
	return no("no SELinux tools: neither setfiles nor restorecon on PATH")
}

// qemuImg runs qemu-img --version, which proves the binary and its libraries load.
func (h host) qemuImg(ctx context.Context) Check {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	var out bytes.Buffer
	err := h.Runner.Run(ctx, imagetool.Command{Name: "qemu-img", Args: []string{"--version"},
		Stdout: &out, Env: []string{"LC_ALL=C"}})
	if err != nil {
		return no("qemu-img --version: %v", err)
	}
	v := qemuVersion(out.String())
	if v == "" {
		return no("qemu-img --version printed no version")
	}
	return yes("qemu-img %s", v)
}

// qemuVersion reads "qemu-img version 7.2.22 (Debian ...)".
func qemuVersion(out string) string {
	_, rest, ok := strings.Cut(out, "qemu-img version ")
	if !ok {
		return ""
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
