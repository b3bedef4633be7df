package faults

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// child is a process the test started, in a process group of its own.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startChild runs bin with the test's environment plus env, logging to dir/name.log. The
// child is stopped when the test ends, and its log is shown if the test failed.
func startChild(t *testing.T, name, bin, dir string, env []string) *child {
	t.Helper()
	c := &child{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(c.log)
	if err != nil {
		t.Fatalf("log for %s: %v", name, err)
	}
	c.cmd = exec.Command(bin)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = c.cmd.Wait()
		f.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			c.showLog(t)
		}
	})
	return c
}

// kill sends SIGKILL to the whole process group and waits for the process to be reaped.
func (c *child) kill(t *testing.T) {
	t.Helper()
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s (pid %d) still running 10 s after SIGKILL", c.name, c.cmd.Process.Pid)
	}
}

// stop asks the group to exit, and kills it after 10 s.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// showLog prints the last lines of the child's log into the test log.
func (c *child) showLog(t *testing.T) {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	lines = lines[max(0, len(lines)-12):]
	t.Logf("last lines of %s:\n%s", c.name, bytes.Join(lines, []byte("\n")))
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// timing is the lease and sweep setting the process tests give both server and workers.
var timing = []string{"LEASE_SECONDS=4", "H2K_SWEEP_SECONDS=1", "LOG_LEVEL=info"}

// startServer runs the API server binary over the stack and waits until it is healthy.
func startServer(t *testing.T, bin, dir string, st *stacktest.Stack) *client {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	env := append(append(st.Environ(), timing...), "H2K_LISTEN="+addr)
	startChild(t, "server", bin, dir, env)
	c := newClient(t, "http://"+addr)
	waitFor(t, "the API server to answer /health", 60*time.Second, func() bool {
		r := c.do(http.MethodGet, "/health", "")
		return r.err == nil && r.status == http.StatusOK
	})
	return c
}

// hostDirs are one worker host's folders.
type hostDirs struct{ input, output, work string }

// startWorker runs the worker binary with the real qemu-img.
func startWorker(t *testing.T, bin, id, dir string, st *stacktest.Stack, d hostDirs) *child {
	t.Helper()
	env := append(append(st.Environ(), timing...), "WORKER_ID="+id,
		"H2K_INPUT_ROOTS="+d.input, "H2K_OUTPUT_ROOT="+d.output, "H2K_WORK_DIR="+d.work,
		"H2K_POLL_WAIT_SECONDS=1", "H2K_HEARTBEAT_SECONDS=1", "H2K_SHUTDOWN_GRACE_SECONDS=3")
	return startChild(t, id, bin, dir, env)
}

// procsUsing lists the processes whose command line mentions path: tools a worker started
// on files under it. The path is a fresh temporary folder, so nothing else matches.
func procsUsing(path string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(path)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killStrays kills, by pid, the tools found running on files under path (all started by
// this test's worker), and waits until they are gone.
func killStrays(t *testing.T, path string) {
	t.Helper()
	for _, pid := range procsUsing(path) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, "stray tools under "+path+" to exit", 10*time.Second, func() bool {
		return len(procsUsing(path)) == 0
	})
}

func cmdlineOf(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return string(bytes.ReplaceAll(b, []byte{0}, []byte(" ")))
}
