package imagetool

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

func TestSHA256File(t *testing.T) {
	t.Parallel()
	tool := newFake(t, nil)
	path := filepath.Join(t.TempDir(), "disk.raw")
	data := make([]byte, 3*hashBlock+17)
	for i := range data {
		data[i] = byte(i * 13)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var progress []float64
	got, err := tool.SHA256File(context.Background(), path,
		func(p float64) { progress = append(progress, p) })
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); got != want || err != nil {
		t.Fatalf("got %s, %v; want %s", got, err, want)
	}
	checkMonotonic(t, progress)
	if err := tool.VerifyChecksum(context.Background(), path, "SHA256:"+got[7:], nil); err != nil {
		t.Errorf("VerifyChecksum with upper-case prefix: %v", err)
	}
}

func TestVerifyChecksumFailures(t *testing.T) {
	t.Parallel()
	tool := newFake(t, nil)
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	zero := "sha256:" + fmt.Sprintf("%064d", 0)
	ctx := context.Background()
	je := wantCode(t, tool.VerifyChecksum(ctx, path, zero, nil), domain.CodeChecksumMismatch)
	if je.Details["expected"] != zero {
		t.Errorf("details: got %v", je.Details)
	}
	wantCode(t, tool.VerifyChecksum(ctx, path, "md5:abc", nil), domain.CodeValidationFailed)
	wantCode(t, tool.VerifyChecksum(ctx, filepath.Join(dir, "gone"), zero, nil),
		domain.CodeInputNotFound)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	je = wantCode(t, tool.VerifyChecksum(cancelled, path, zero, nil), domain.CodeCancelled)
	if je.Phase != domain.PhasePreflight {
		t.Errorf("phase: got %s, want preflight", je.Phase)
	}
}
