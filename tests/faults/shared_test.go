package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/localrun"
)

// imageSize is the virtual size of the test disk: 1 GiB, half of it data.
const imageSize = 1 << 30

// shared holds what the process tests build once per test binary: the server and worker
// binaries and the test disk. removeShared deletes it after the last test.
var shared struct {
	once           sync.Once
	dir            string
	server, worker string
	image          string
	err            error
}

// artifacts returns the built binaries and the test disk, building them on first use.
func artifacts(t *testing.T) (server, worker, image string) {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skipf("qemu-img not installed: %v", err)
	}
	shared.once.Do(func() { shared.err = buildShared() })
	if shared.err != nil {
		t.Fatalf("build test artifacts: %v", shared.err)
	}
	return shared.server, shared.worker, shared.image
}

func buildShared() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "h2k-faults-")
	if err != nil {
		return err
	}
	shared.dir = dir
	shared.server = filepath.Join(dir, "h2k-server")
	shared.worker = filepath.Join(dir, "h2k-worker")
	for bin, pkg := range map[string]string{shared.server: "./cmd/h2k-server",
		shared.worker: "./worker-host"} {
		if err := goBuild(ctx, bin, pkg); err != nil {
			return err
		}
	}
	images := filepath.Join(dir, "images")
	if err := os.Mkdir(images, 0o755); err != nil {
		return err
	}
	shared.image, err = localrun.MakeTestDisk(ctx, images, imageSize)
	return err
}

// goBuild builds pkg of this module (without the race detector: the children only need
// to be the real programs).
func goBuild(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

func removeShared() {
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
}
