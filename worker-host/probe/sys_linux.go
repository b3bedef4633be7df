package probe

import (
	"fmt"
	"syscall"
)

// uname returns the kernel release and node name.
func uname() (string, string, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", "", fmt.Errorf("uname: %w", err)
	}
	return cString(u.Release[:]), cString(u.Nodename[:]), nil
}

// cString reads a NUL-terminated uname field; its element type differs between
// architectures.
func cString[T int8 | uint8](b []T) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// freeBytes returns the bytes an unprivileged writer may still use under path.
func freeBytes(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
