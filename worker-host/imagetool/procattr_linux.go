package imagetool

import "syscall"

// procAttr puts the tool in its own process group (so a stop reaches its children too) and
// has the kernel kill it if the worker dies: a SIGKILLed worker must not leave a qemu-img
// writing into an output that the job's next owner is about to produce. The death signal is
// tied to the thread that started the tool; the Go runtime does not end its threads while
// the program runs (nothing here locks threads), so it fires only when the worker is gone.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
