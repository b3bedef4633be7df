package imagetool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// hashBlock is how much is read between checks of ctx: large enough for full disk speed,
// small enough that a cancel stops hashing within milliseconds.
const hashBlock = 1 << 20

// SHA256File hashes the file at path as "sha256:<hex>", the form of image.checksum in a job
// spec. It reads in blocks and stops when ctx ends; onProgress, which may be nil, gets
// throttled rising percentages.
func (t *Tool) SHA256File(ctx context.Context, path string,
	onProgress func(pct float64)) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", jobErr(domain.PhasePreflight, domain.CodeInputNotFound,
			"source image %s not found", filepath.Base(path))
	}
	if err != nil {
		return "", osError(domain.PhasePreflight, "open for checksum", err, names(path))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", osError(domain.PhasePreflight, "stat for checksum", err, names(path))
	}
	h := sha256.New()
	r := &progressReader{ctx: ctx, r: f, total: fi.Size(), throttle: t.newThrottle(onProgress)}
	if _, err := io.CopyBuffer(h, r, make([]byte, hashBlock)); err != nil {
		if ctx.Err() != nil {
			return "", contextError(ctx, domain.PhasePreflight)
		}
		return "", osError(domain.PhasePreflight, "read for checksum", err, names(path))
	}
	r.report(100)
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// VerifyChecksum hashes path and fails with CHECKSUM_MISMATCH unless it matches want, a
// "sha256:<hex>" string. A corrupt download is caught here, before hours of converting.
func (t *Tool) VerifyChecksum(ctx context.Context, path, want string,
	onProgress func(pct float64)) error {
	wantHex, ok := strings.CutPrefix(strings.ToLower(want), "sha256:")
	if !ok || len(wantHex) != sha256.Size*2 {
		return jobErr(domain.PhasePreflight, domain.CodeValidationFailed,
			"checksum %q: must be sha256:<64 hex digits>", want)
	}
	got, err := t.SHA256File(ctx, path, onProgress)
	if err != nil {
		return err
	}
	if got != "sha256:"+wantHex {
		je := jobErr(domain.PhasePreflight, domain.CodeChecksumMismatch,
			"%s does not match its checksum", filepath.Base(path))
		je.Details = map[string]any{"expected": "sha256:" + wantHex, "actual": got}
		return je
	}
	return nil
}

// progressReader reads from r, failing once ctx ends and reporting how much was read.
type progressReader struct {
	ctx      context.Context
	r        io.Reader
	total    int64
	done     int64
	throttle *Throttle
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.total > 0 {
		p.report(min(100, float64(p.done)*100/float64(p.total)))
	}
	return n, err
}

func (p *progressReader) report(pct float64) {
	if p.throttle != nil {
		p.throttle.Report(pct)
	}
}
