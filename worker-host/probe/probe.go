// Package probe finds out what this worker host can do (nbd, LVM, mounting, SELinux
// relabelling, qemu-img) by looking, never by trying: it reads /sys, /proc and /dev and runs
// only version queries, so probing cannot disturb devices that running jobs use. The
// control plane matches jobs to workers on this report, so every "no" says why.
package probe

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/worker-host/imagetool"
)

// versionTimeout bounds `qemu-img --version`; a tool that hangs on that is not usable.
const versionTimeout = 10 * time.Second

// Options says where to look. The zero value probes the real host.
type Options struct {
	// Root is prefixed to /sys, /proc and /dev, so tests can point at a fake tree.
	Root string
	// WorkDir is the folder whose free space is reported; empty reports none.
	WorkDir string
	// Runner runs qemu-img --version; nil means a real process.
	Runner imagetool.Runner
	// LookPath finds programs; nil means exec.LookPath.
	LookPath func(string) (string, error)
	// Uname returns the kernel release and host name; nil means the uname system call.
	Uname func() (release, hostname string, err error)
	// FreeBytes returns the bytes available to us under a path; nil means statfs.
	FreeBytes func(path string) (uint64, error)
	// Logger records what could not be measured; nil discards.
	Logger *slog.Logger
}

// Check is one capability: whether the host has it, and why (not).
type Check struct {
	OK     bool   `json:"ok"`
	Reason string `json:"reason"`
}

// Report is what the worker registers with: capabilities with reasons, and resources.
type Report struct {
	NBD           Check  `json:"nbd"`
	LVM           Check  `json:"lvm"`
	Mount         Check  `json:"mount"`
	SELinux       Check  `json:"selinux"`
	QemuImg       Check  `json:"qemu_img"`
	MemoryGB      int    `json:"memory_gb"`
	DiskSpaceGB   int    `json:"disk_space_gb"`
	KernelVersion string `json:"kernel_version"`
	Hostname      string `json:"hostname"`
}

// Probe inspects the host. It never fails: what cannot be determined is reported as absent
// (or zero) with the reason, and logged.
func Probe(ctx context.Context, opts Options) Report {
	h := newHost(opts)
	r := Report{
		NBD:     h.nbd(),
		LVM:     h.lvm(),
		Mount:   h.mount(),
		SELinux: h.selinux(),
		QemuImg: h.qemuImg(ctx),
	}
	r.MemoryGB = h.memoryGB(ctx)
	r.DiskSpaceGB = h.diskGB(ctx)
	r.KernelVersion, r.Hostname = h.uname(ctx)
	return r
}

// Capabilities returns the booleans the control plane stores and matches jobs on.
func (r Report) Capabilities() domain.Capabilities {
	return domain.Capabilities{NBD: r.NBD.OK, LVM: r.LVM.OK, Mount: r.Mount.OK,
		SELinux: r.SELinux.OK, QemuImg: r.QemuImg.OK}
}

// Fill copies the report into a registration, leaving the fields the worker's own
// configuration sets (id, execution mode, slots) alone.
func (r Report) Fill(reg *domain.Registration) {
	reg.Capabilities = r.Capabilities()
	reg.MemoryGB, reg.DiskSpaceGB = r.MemoryGB, r.DiskSpaceGB
	reg.KernelVersion, reg.Hostname = r.KernelVersion, r.Hostname
}

// host holds the options with defaults filled in.
type host struct {
	Options
}

func newHost(o Options) host {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Runner == nil {
		o.Runner = &imagetool.ExecRunner{Grace: time.Second}
	}
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	if o.Uname == nil {
		o.Uname = uname
	}
	if o.FreeBytes == nil {
		o.FreeBytes = freeBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return host{o}
}

// path returns an absolute host path under Root.
func (h host) path(p string) string { return filepath.Join(h.Root, p) }
