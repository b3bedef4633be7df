package localaws

import (
	"os"
	"syscall"
)

// sysProcAttr puts each service in a process group of its own (so a group signal reaches all
// of it, and a Ctrl-C meant for the parent does not) and has the kernel kill it if this
// process dies first, so a crashed test binary leaves no orphans. Pdeathsig fires when the OS
// thread that started the child ends, not the process; Go ends a thread only when a goroutine
// exits while locked to it (LockOSThread), which nothing in this repository does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup signals the whole process group led by p.
func signalGroup(p *os.Process, sig syscall.Signal) {
	// ESRCH (already gone) is the only expected error, and then there is nothing to do.
	_ = syscall.Kill(-p.Pid, sig)
}
