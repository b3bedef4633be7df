package probe

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"strconv"
	"strings"
)

const gib = 1 << 30

// memoryGB reads MemTotal, rounded to the nearest GiB. MemTotal leaves out what firmware
// and kernel reserve, so a host reports a little under its nominal size.
func (h host) memoryGB(ctx context.Context) int {
	data, err := os.ReadFile(h.path("/proc/meminfo"))
	if err != nil {
		h.Logger.WarnContext(ctx, "memory unknown", "error", err)
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "MemTotal:" {
			continue
		}
		kb, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			break
		}
		return int(math.Round(float64(kb) * 1024 / gib))
	}
	h.Logger.WarnContext(ctx, "memory unknown", "error", "no MemTotal in /proc/meminfo")
	return 0
}

// diskGB reports the free space of the work folder, rounded down: promising space that is
// not there makes a job fail hours in.
func (h host) diskGB(ctx context.Context) int {
	if h.WorkDir == "" {
		return 0
	}
	free, err := h.FreeBytes(h.WorkDir)
	if err != nil {
		h.Logger.WarnContext(ctx, "free disk space unknown", "error", err)
		return 0
	}
	return int(free / gib)
}

func (h host) uname(ctx context.Context) (string, string) {
	release, hostname, err := h.Uname()
	if err != nil {
		h.Logger.WarnContext(ctx, "kernel version unknown", "error", err)
	}
	return release, hostname
}
