package domain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Capabilities are what a worker host can do. The stored form is always this map of booleans.
type Capabilities struct {
	NBD     bool `json:"nbd"`
	LVM     bool `json:"lvm"`
	Mount   bool `json:"mount"`
	SELinux bool `json:"selinux"`
	QemuImg bool `json:"qemu_img"`
}

var capabilityNames = map[string]func(*Capabilities) *bool{
	"nbd":              func(c *Capabilities) *bool { return &c.NBD },
	"nbd_access":       func(c *Capabilities) *bool { return &c.NBD },
	"lvm":              func(c *Capabilities) *bool { return &c.LVM },
	"lvm_tools":        func(c *Capabilities) *bool { return &c.LVM },
	"mount":            func(c *Capabilities) *bool { return &c.Mount },
	"mount_operations": func(c *Capabilities) *bool { return &c.Mount },
	"selinux":          func(c *Capabilities) *bool { return &c.SELinux },
	"selinux_tools":    func(c *Capabilities) *bool { return &c.SELinux },
	"qemu_img":         func(c *Capabilities) *bool { return &c.QemuImg },
}

// UnmarshalJSON accepts both spellings: a map of booleans, or the original docs' list of
// names such as ["nbd_access", "lvm_tools", "qemu_img"].
func (c *Capabilities) UnmarshalJSON(data []byte) error {
	var list []string
	if err := json.Unmarshal(data, &list); err == nil {
		for _, name := range list {
			if err := c.set(name, true); err != nil {
				return err
			}
		}
		return nil
	}
	var m map[string]bool
	if err := json.Unmarshal(data, &m); err != nil {
		return &FieldError{Field: "capabilities",
			Message: "must be a list of names or an object of booleans"}
	}
	for name, v := range m {
		if err := c.set(name, v); err != nil {
			return err
		}
	}
	return nil
}

func (c *Capabilities) set(name string, v bool) error {
	f, ok := capabilityNames[strings.ToLower(name)]
	if !ok {
		return &FieldError{Field: "capabilities." + name, Message: "is not a known capability " +
			"(nbd, lvm, mount, selinux, qemu_img)"}
	}
	*f(c) = *f(c) || v
	return nil
}

// ExecutionMode says how the worker runs its tools.
type ExecutionMode string

// The execution modes of the protocol.
const (
	ModeHost                ExecutionMode = "host"
	ModeSafeContainer       ExecutionMode = "safe_container"
	ModePrivilegedContainer ExecutionMode = "privileged_container"
)

// Worker is a registered worker host.
type Worker struct {
	WorkerID          string         `json:"worker_id"`
	Hostname          string         `json:"hostname,omitempty"`
	Capabilities      Capabilities   `json:"capabilities"`
	ExecutionMode     ExecutionMode  `json:"execution_mode,omitempty"`
	MemoryGB          int            `json:"memory_gb,omitempty"`
	DiskSpaceGB       int            `json:"disk_space_gb,omitempty"`
	MaxConcurrentJobs int            `json:"max_concurrent_jobs,omitempty"`
	OSInfo            map[string]any `json:"os_info,omitempty"`
	KernelVersion     string         `json:"kernel_version,omitempty"`
	RegisteredAt      time.Time      `json:"registered_at"`
	LastHeartbeat     time.Time      `json:"last_heartbeat"`
	Status            string         `json:"status,omitempty"`
	ActiveJobs        int            `json:"active_jobs"`
}

// Registration is the body of POST /workers/register (and the worker part of a dequeue).
type Registration struct {
	WorkerID          string         `json:"worker_id"`
	Hostname          string         `json:"hostname"`
	Capabilities      Capabilities   `json:"capabilities"`
	ExecutionMode     string         `json:"execution_mode"`
	MemoryGB          int            `json:"memory_gb"`
	DiskSpaceGB       int            `json:"disk_space_gb"`
	MaxConcurrentJobs int            `json:"max_concurrent_jobs"`
	OSInfo            map[string]any `json:"os_info"`
	KernelVersion     string         `json:"kernel_version"`
}

// Validate lists what is wrong with a registration and normalises the execution mode.
func (r *Registration) Validate() []FieldError {
	var f []FieldError
	if !ValidID(r.WorkerID) {
		f = append(f, FieldError{Field: "worker_id", Message: "must be 1-128 characters of " +
			"A-Z a-z 0-9 . _ - starting with a letter or digit"})
	}
	mode := ExecutionMode(strings.ToLower(r.ExecutionMode))
	switch mode {
	case "":
		mode = ModeHost
	case ModeHost, ModeSafeContainer, ModePrivilegedContainer:
	default:
		f = append(f, FieldError{Field: "execution_mode",
			Message: "must be host, safe_container or privileged_container"})
	}
	r.ExecutionMode = string(mode)
	for name, v := range map[string]int{"memory_gb": r.MemoryGB, "disk_space_gb": r.DiskSpaceGB,
		"max_concurrent_jobs": r.MaxConcurrentJobs} {
		if v < 0 || v > 1<<20 {
			f = append(f, FieldError{Field: name, Message: "must be between 0 and 1048576"})
		}
	}
	for name, v := range map[string]string{"hostname": r.Hostname,
		"kernel_version": r.KernelVersion} {
		if len(v) > 255 {
			f = append(f, FieldError{Field: name, Message: "must be at most 255 characters"})
		}
	}
	return f
}

// ParseRegistration decodes and validates a registration body.
func ParseRegistration(data []byte) (Registration, error) {
	var r Registration
	if err := DecodeStrict(data, &r); err != nil {
		return Registration{}, err
	}
	if f := r.Validate(); len(f) > 0 {
		return Registration{}, Invalid(f)
	}
	return r, nil
}

// Worker builds the stored worker record from a registration.
func (r Registration) Worker(now time.Time) Worker {
	slots := r.MaxConcurrentJobs
	if slots == 0 {
		slots = 1
	}
	return Worker{
		WorkerID: r.WorkerID, Hostname: r.Hostname, Capabilities: r.Capabilities,
		ExecutionMode: ExecutionMode(r.ExecutionMode), MemoryGB: r.MemoryGB,
		DiskSpaceGB: r.DiskSpaceGB, MaxConcurrentJobs: slots, OSInfo: r.OSInfo,
		KernelVersion: r.KernelVersion, RegisteredAt: now.UTC(), LastHeartbeat: now.UTC(),
	}
}

// Alive reports whether the worker's last heartbeat is recent enough.
func (w Worker) Alive(now time.Time, timeout time.Duration) bool {
	return now.Sub(w.LastHeartbeat) <= timeout
}

// Missing returns the first requirement of spec this worker lacks, or "" when it can run it.
// The answer doubles as the job's waiting reason.
func (c Capabilities) Missing(r Requirements, memoryGB, diskGB int) string {
	switch {
	case r.NeedsNBD && !c.NBD:
		return "nbd"
	case r.NeedsLVM && !c.LVM:
		return "lvm"
	case r.NeedsMount && !c.Mount:
		return "mount"
	case r.NeedsSELinuxTools && !c.SELinux:
		return "selinux tools"
	case r.MinMemoryGB != nil && memoryGB < *r.MinMemoryGB:
		return fmt.Sprintf("at least %d GB of memory", *r.MinMemoryGB)
	case r.MinDiskSpaceGB != nil && diskGB < *r.MinDiskSpaceGB:
		return fmt.Sprintf("at least %d GB of free disk", *r.MinDiskSpaceGB)
	}
	return ""
}
