//go:build !linux

package probe

import "errors"

// errNotLinux is what the host calls answer elsewhere: worker hosts run Linux, and the
// package builds on other systems only so that developers can run its fake-tree tests.
var errNotLinux = errors.New("only supported on linux")

func uname() (string, string, error) { return "", "", errNotLinux }

func freeBytes(string) (uint64, error) { return 0, errNotLinux }
