//go:build !linux

package browser

import "os/exec"

// ownGroup leaves the defaults: process groups are set up this way on Linux only, where
// the Debian Chromium these tests run runs.
func ownGroup(*exec.Cmd) {}

func endGroup(*exec.Cmd) {}
