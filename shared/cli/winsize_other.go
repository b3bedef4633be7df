//go:build !linux

package cli

import "os"

// termWidth is unknown here without a terminal library; COLUMNS or 80 stands in.
func termWidth(*os.File) int { return 0 }
