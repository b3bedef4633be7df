//go:build !linux

package localaws

import (
	"os"
	"syscall"
)

// sysProcAttr adds nothing outside Linux: the harness is built for Linux machines, and this
// file only keeps the package compiling elsewhere.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}

// signalGroup signals p alone; without Linux process groups a child's descendants may survive.
func signalGroup(p *os.Process, sig syscall.Signal) {
	_ = p.Signal(sig)
}
