//go:build unix && !linux

package imagetool

import "syscall"

// procAttr puts the tool in its own process group; only Linux offers a parent-death signal.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
