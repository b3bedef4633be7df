// Package paths confines the files a job may touch to configured roots. The worker runs as
// root next to other jobs' disks, so an image path or output path from a job spec is refused
// unless it resolves, symlinks included, to a regular file inside a root, and it is refused
// before anything is opened.
package paths

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// Roots are the folders inputs may be read from and outputs written to.
type Roots struct {
	InputRoots  []string
	OutputRoots []string
}

// New resolves the roots once, so that a root that is itself a symlink still works and a
// missing root fails at start.
func New(input, output []string) (Roots, error) {
	var r Roots
	var err error
	if r.InputRoots, err = resolveAll(input); err != nil {
		return r, err
	}
	if r.OutputRoots, err = resolveAll(output); err != nil {
		return r, err
	}
	if len(r.InputRoots) == 0 || len(r.OutputRoots) == 0 {
		return r, errors.New("paths: at least one input and one output root are needed")
	}
	return r, nil
}

func resolveAll(dirs []string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("paths: root %s: %w", d, err)
		}
		out = append(out, abs)
	}
	return out, nil
}

func refuse(field, format string, args ...any) error {
	return &domain.JobError{Phase: domain.PhasePreflight, Code: domain.CodePathNotAllowed,
		Message: field + ": " + fmt.Sprintf(format, args...)}
}

// lexical refuses what is wrong before touching the file system: relative paths, ".." in
// any position, NUL bytes.
func lexical(field, p string) error {
	if !filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
		return refuse(field, "must be an absolute path")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return refuse(field, "must not contain '..'")
		}
	}
	return nil
}

func within(p string, roots []string) bool {
	for _, r := range roots {
		if p == r || strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// ResolveInput resolves an image path for reading.
func (r Roots) ResolveInput(field, p string) (string, error) {
	if err := lexical(field, p); err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(p)
	if errors.Is(err, fs.ErrNotExist) && within(filepath.Clean(p), r.InputRoots) {
		return "", &domain.JobError{Phase: domain.PhasePreflight, Code: domain.CodeInputNotFound,
			Message: field + ": " + filepath.Base(p) + " does not exist on the worker"}
	}
	if err != nil || !within(real, r.InputRoots) {
		return "", refuse(field, "is not inside the worker's input roots")
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.Mode().IsRegular() {
		return "", refuse(field, "is not a regular file")
	}
	if err := trustedDirs(field, filepath.Dir(real), r.InputRoots); err != nil {
		return "", err
	}
	return real, nil
}

// ResolveOutput resolves an output path for writing: its folder must exist inside an output root,
// and an existing file there must be a regular file (never a device or a link out).
func (r Roots) ResolveOutput(field, p string) (string, error) {
	if err := lexical(field, p); err != nil {
		return "", err
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil || !within(dir, r.OutputRoots) || strings.HasSuffix(p, "/") {
		return "", refuse(field, "is not a file inside the worker's output roots")
	}
	real := filepath.Join(dir, filepath.Base(p))
	fi, err := os.Lstat(real)
	if err == nil && !fi.Mode().IsRegular() {
		return "", refuse(field, "exists and is not a regular file")
	}
	if err := trustedDirs(field, dir, r.OutputRoots); err != nil {
		return "", err
	}
	return real, nil
}

// trustedDirs refuses a path whose folders, from its root down, are writable by group or
// others (without the sticky bit): anyone who can write there could swap a folder for a link
// between the check and the tools' use of the path. The owner of the roots is trusted.
// TODO: the check and the use are still two steps, so the roots' owner (or root) can still
// race the worker; opening files once (openat2 with RESOLVE_BENEATH) and handing descriptors
// to qemu-img would close that gap too.
func trustedDirs(field, dir string, roots []string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Lstat(d)
		if err != nil {
			return refuse(field, "has a folder that cannot be checked")
		}
		open := fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0
		if !fi.IsDir() || open {
			return refuse(field, "is in a folder that others may change (%s)",
				filepath.Base(d))
		}
		if slices.Contains(roots, d) || d == filepath.Dir(d) {
			return nil
		}
	}
}
