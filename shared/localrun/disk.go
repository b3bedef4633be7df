package localrun

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
)

// MakeTestDisk writes a VMDK of the given virtual size whose content is known and not zero:
// a 1 MiB block of a seeded pattern every 2 MiB, holes in between, so a conversion has real
// data to move and a comparison has something to disagree about. It returns the VMDK path.
func MakeTestDisk(ctx context.Context, dir string, virtualSize int64) (string, error) {
	raw := filepath.Join(dir, "source.raw")
	if err := writePattern(raw, virtualSize); err != nil {
		return "", err
	}
	defer os.Remove(raw)
	vmdk := filepath.Join(dir, "source.vmdk")
	cmd := exec.CommandContext(ctx, "qemu-img", "convert", "-f", "raw", "-O", "vmdk", raw, vmdk)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make vmdk: %w: %s", err, out)
	}
	return vmdk, nil
}

const (
	blockSize = 1 << 20
	stride    = 2 << 20
)

func writePattern(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("size %s: %w", path, err)
	}
	block := make([]byte, blockSize)
	for off := int64(0); off+blockSize <= size; off += stride {
		fillBlock(block, off)
		if _, err := f.WriteAt(block, off); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return f.Close()
}

// fillBlock derives a block's bytes from its offset, so every block differs from the others.
func fillBlock(b []byte, off int64) {
	rng := rand.New(rand.NewPCG(uint64(off), 0x68326b766d))
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
}
