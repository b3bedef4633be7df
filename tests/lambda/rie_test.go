// Package lambda_test runs the built Lambda functions under the Lambda runtime interface
// emulator, fed with the files in events/, as `sam local invoke -e` would inside its container.
package lambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/localaws"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

func TestMain(m *testing.M) { os.Exit(localaws.RunTests(m)) }

// streamSecret is the secret the access_token in events/stream-events.json is signed with.
const streamSecret = "example-stream-token-secret-for-local-tests"

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// function builds one function as bootstrap and runs it under the emulator; it returns the
// invoke URL.
func function(t *testing.T, name string, env []string) string {
	t.Helper()
	root := repoRoot(t)
	rie := filepath.Join(root, ".local", "bin", "aws-lambda-rie")
	if _, err := os.Stat(rie); err != nil {
		t.Fatalf("aws-lambda-rie is missing (run make deps): %v", err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o",
		filepath.Join(dir, "bootstrap"), "./functions/"+name)
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	api, rt := freePort(t), freePort(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", api),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", rt), filepath.Join(dir, "bootstrap"))
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s emulator output:\n%s", name, logs.String())
		}
	})
	return fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", api)
}

// invoke posts an event file and returns the raw answer, retrying while the emulator starts.
func invoke(t *testing.T, url, eventFile string) []byte {
	t.Helper()
	event, err := os.ReadFile(filepath.Join(repoRoot(t), "events", eventFile))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Post(url, "application/json", bytes.NewReader(event))
		if err == nil {
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("invoke %s: %v", eventFile, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type proxyAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

func TestBufferedFunctionsAnswerTheirEvents(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t, stacktest.Options{})
	env := append(st.Environ(), "STREAM_TOKEN_SECRET="+streamSecret)
	cases := []struct {
		fn, event string
		want      int
		contains  string
	}{
		{"health", "health.json", 200, `"status":"healthy"`},
		{"submit-job", "submit-job.json", 201, `"job_id":"convert-vm-123"`},
		{"get-job", "get-job.json", 200, `"stream_url":"https://`},
	}
	for _, c := range cases {
		var ans proxyAnswer
		raw := invoke(t, function(t, c.fn, env), c.event)
		if err := json.Unmarshal(raw, &ans); err != nil {
			t.Fatalf("%s: answer is not a proxy response: %v: %s", c.fn, err, raw)
		}
		if ans.StatusCode != c.want || !strings.Contains(ans.Body, c.contains) {
			t.Errorf("%s: got %d %s, want %d containing %s", c.fn, ans.StatusCode, ans.Body,
				c.want, c.contains)
		}
	}
}

func TestStreamFunctionSendsThePreludeThenSSE(t *testing.T) {
	t.Parallel()
	st := stacktest.New(t, stacktest.Options{})
	env := append(st.Environ(), "STREAM_TOKEN_SECRET="+streamSecret)
	raw := invoke(t, function(t, "submit-job", env), "submit-job.json")
	if !bytes.Contains(raw, []byte(`"statusCode":201`)) {
		t.Fatalf("submit: %s", raw)
	}
	ctx := context.Background()
	if _, _, err := st.Svc.Cancel(ctx, "convert-vm-123"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	raw = invoke(t, function(t, "stream-events", env), "stream-events.json")
	prelude, body, ok := bytes.Cut(raw, make([]byte, 8))
	if !ok {
		t.Fatalf("no 8-NUL separator in the streamed answer: %q", raw)
	}
	var head struct {
		StatusCode int                 `json:"statusCode"`
		Headers    map[string][]string `json:"multiValueHeaders"`
	}
	if err := json.Unmarshal(prelude, &head); err != nil {
		t.Fatalf("prelude is not JSON: %v: %q", err, prelude)
	}
	ct := strings.Join(head.Headers["Content-Type"], ",")
	if head.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("prelude: got %s, want 200 text/event-stream", prelude)
	}
	for _, want := range []string{"retry: ", "event: complete", `"state":"CANCELLED"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("SSE body lacks %q: %s", want, body)
		}
	}
}
