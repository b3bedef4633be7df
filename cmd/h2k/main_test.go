package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary act as h2k when re-executed, so the tests below see the real
// process: its exit status and what reaches stderr.
func TestMain(m *testing.M) {
	if os.Getenv("H2K_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func h2k(t *testing.T, api string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "H2K_TEST_AS_MAIN=1", "H2K_API="+api, "H2K_TOKEN=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run h2k: %v", err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

func TestExitCodesOfTheProcess(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.Write([]byte(`{"status": "healthy", "version": "v1", "workers": 1}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error": {"code": 404, "type": "not_found", "message": ` +
			`"job convert-vm-999 not found", "path": "/jobs/convert-vm-999"}}`))
	}))
	t.Cleanup(srv.Close)
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"help"}, 0, ""},
		{[]string{"health"}, 0, ""},
		{[]string{"get", "convert-vm-999"}, 3, "h2k: job convert-vm-999 not found\n"},
		{[]string{"nonsense"}, 2, "h2k: unknown command \"nonsense\"\n"},
		{[]string{"get"}, 2, "h2k: usage: h2k get <job-id>\n"},
	}
	for _, tc := range cases {
		code, _, stderr := h2k(t, srv.URL, tc.args...)
		if code != tc.code || !strings.HasPrefix(stderr, tc.stderr) {
			t.Errorf("h2k %q: got %d %q, want %d %q", tc.args, code, stderr, tc.code, tc.stderr)
		}
		if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
			t.Errorf("h2k %q: stderr %q looks like a stack trace", tc.args, stderr)
		}
	}
}
