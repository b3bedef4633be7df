package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binaries are the two programs under test, built once for all cases.
type binaries struct{ server, worker string }

// build compiles the API server and the worker host into a temporary folder. The module
// cache is all it needs: GOPROXY=off keeps the build off the network.
func build(t *testing.T) binaries {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool: %v", err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(filepath.Separator),
		"./cmd/h2k-server", "./worker-host")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return binaries{server: filepath.Join(dir, "h2k-server"),
		worker: filepath.Join(dir, "worker-host")}
}

// child is a started program whose output goes to a log file.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited and been reaped
}

// start runs bin in its own process group with exactly env (plus PATH, for qemu-img), and
// stops the whole group when the test ends.
func start(t *testing.T, name, bin string, env []string) *child {
	t.Helper()
	log := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	c := &child{name: name, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop sends SIGTERM to the process group, then SIGKILL after a grace period, and waits.
// A failed test gets the end of the child's log.
func (c *child) stop(t *testing.T) {
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
		t.Errorf("%s did not stop within 15 s of SIGTERM", c.name)
	}
	if t.Failed() {
		t.Logf("--- %s log (last lines) ---\n%s", c.name, c.tail(40))
	}
}

func (c *child) tail(n int) string {
	data, _ := os.ReadFile(c.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// exited reports whether the child has already died.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// serverURL waits for the server's "listening" record and returns its URL: the server
// binds 127.0.0.1:0, so the kernel picks a free port and no two tests can race for one.
func (c *child) serverURL(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if u := c.logged("local API listening", "url"); u != "" {
			return u
		}
		if c.exited() {
			t.Fatalf("%s exited at start:\n%s", c.name, c.tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not report its address within a minute:\n%s", c.name, c.tail(40))
	return ""
}

// logged returns attribute key of the first JSON log record with message msg, or "".
func (c *child) logged(msg, key string) string {
	f, err := os.Open(c.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			v, _ := rec[key].(string)
			return v
		}
	}
	return ""
}

// waitHealthy polls GET /health until it answers 200.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s/health: not healthy within a minute: %v", base, last)
}
