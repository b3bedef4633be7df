//go:build unix

package imagetool

import (
	"os"
	"syscall"
)

// allocated returns the bytes a file occupies on disk, which for a sparse image is what the
// job really wrote; 0 when unknown.
func allocated(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
