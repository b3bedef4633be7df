package template

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// toolEnv keeps the AWS tools offline and deterministic: a fixed region (the SAM translator
// needs one) and no instance-metadata lookups.
func toolEnv() []string {
	return append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true")
}

// runTool runs a command with toolEnv and returns its stdout, stderr and exit code; failing
// to start it at all fails the test.
func runTool(t *testing.T, name string, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = toolEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.Bytes(), errOut.Bytes(), exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", name, err)
	}
	return out.Bytes(), errOut.Bytes(), 0
}

// requireTool fails with install instructions when name is not on PATH.
func requireTool(t *testing.T, name, install string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not on PATH (%v); install it with `%s` (it ships with the "+
			"machine image; see /work/shared/LOCAL-AWS.md)", name, err, install)
	}
}
