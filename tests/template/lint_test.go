package template

import "testing"

// cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational findings;
// anything else (1 is a crash or bad usage) means it could not lint at all.
const (
	cfnLintError   = 2
	cfnLintWarning = 4
	cfnLintInfo    = 8
)

// TestCfnLint fails on any cfn-lint error and logs warnings without failing.
func TestCfnLint(t *testing.T) {
	t.Parallel()
	requireTool(t, "cfn-lint", "python3 -m pip install cfn-lint")
	out, errOut, code := runTool(t, "cfn-lint", "--format", "parseable", "--",
		repoFile("template.yaml"))
	switch {
	case code == 0:
		return
	case code&^(cfnLintError|cfnLintWarning|cfnLintInfo) != 0:
		t.Fatalf("cfn-lint could not run (exit %d):\n%s%s", code, out, errOut)
	case code&cfnLintError != 0:
		t.Fatalf("cfn-lint found errors (exit %d):\n%s%s", code, out, errOut)
	default:
		t.Logf("cfn-lint warnings or notes (exit %d), not failing:\n%s", code, out)
	}
}
