package imagetool

import (
	"context"
	"io"
	"path/filepath"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// compareDifferent is the exit status of qemu-img compare for images that differ; 0 means
// identical and anything else an error.
const compareDifferent = 1

// Compare reports whether two images show the guest the same content, whatever their
// formats: the check that a conversion lost nothing. Formats are ours and required, since
// probing a raw output could misread it.
func (t *Tool) Compare(ctx context.Context, a, aFormat, b, bFormat string) (bool, error) {
	same, _, err := t.compare(ctx, a, aFormat, b, bFormat, nil)
	return same, err
}

// Verify compares a conversion's output with its source and fails with VERIFICATION_FAILED
// when they differ. onProgress, which may be nil, gets throttled rising percentages.
func (t *Tool) Verify(ctx context.Context, src, srcFormat, out, outFormat string,
	onProgress func(pct float64)) error {
	throttle := t.newThrottle(onProgress)
	same, said, err := t.compare(ctx, src, srcFormat, out, outFormat, throttle)
	if err != nil {
		return err
	}
	if !same {
		je := jobErr(domain.PhaseVerification, domain.CodeVerificationFailed,
			"output %s differs from source %s: %s", filepath.Base(out), filepath.Base(src),
			LastLine(said))
		return je
	}
	if throttle != nil {
		throttle.Report(100)
	}
	return nil
}

// compare runs qemu-img compare and returns whether the images match and the tail of what
// the tool printed, which names the first differing offset.
func (t *Tool) compare(ctx context.Context, a, aFormat, b, bFormat string,
	throttle *Throttle) (bool, string, error) {
	specA, specB, err := compareSpecs(a, aFormat, b, bFormat)
	if err != nil {
		return false, "", err
	}
	said := &tailBuffer{max: 512}
	var stdout io.Writer = said
	args := []string{"compare"}
	if throttle != nil {
		parser := NewProgressParser(throttle.Report)
		defer parser.Flush()
		stdout = io.MultiWriter(said, parser)
		args = append(args, "-p")
	}
	err = t.qemu(ctx, stdout, append(args, specA, specB)...)
	if ee, ok := asExit(err); ok && ee.Code == compareDifferent {
		return false, said.String(), nil
	}
	if err != nil {
		n := names(a, b).with(specA, filepath.Base(a)).with(specB, filepath.Base(b))
		return false, "", toolError(ctx, domain.PhaseVerification, "qemu-img compare", err,
			domain.CodeExecutionFailed, n)
	}
	return true, said.String(), nil
}

// compareSpecs builds the json: specs for both images, with their drivers pinned.
func compareSpecs(a, aFormat, b, bFormat string) (string, string, error) {
	qa, qb := QemuFormat(aFormat), QemuFormat(bFormat)
	if qa == "" || qb == "" {
		return "", "", jobErr(domain.PhaseVerification, domain.CodeValidationFailed,
			"compare needs image formats, got %q and %q", aFormat, bFormat)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	if errA != nil || errB != nil {
		return "", "", jobErr(domain.PhaseVerification, domain.CodeExecutionFailed,
			"resolve image paths for compare")
	}
	return fileSpec(absA, qa), fileSpec(absB, qb), nil
}
