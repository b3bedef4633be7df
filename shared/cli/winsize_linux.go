package cli

import (
	"os"
	"syscall"
	"unsafe"
)

// termWidth asks the terminal for its width, because shells seldom export COLUMNS and a
// line that wraps cannot be redrawn in place. It returns 0 when f is not a terminal.
func termWidth(f *os.File) int {
	var ws struct{ rows, cols, x, y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TIOCGWINSZ),
		uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return 0
	}
	return int(ws.cols)
}
