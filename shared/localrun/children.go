package localrun

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// children are the processes a run started; stopAll ends them all, whatever happened.
type children struct {
	log   *slog.Logger
	procs []*exec.Cmd
	names []string
}

func (c *children) start(_ context.Context, name, bin, dir string, env []string) error {
	logf, err := os.Create(filepath.Join(dir, "logs", name+".log"))
	if err != nil {
		return fmt.Errorf("log file for %s: %w", name, err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	c.procs = append(c.procs, cmd)
	c.names = append(c.names, name)
	return nil
}

// stopAll sends SIGTERM to each process group, waits up to 10 s, then kills.
func (c *children) stopAll() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		cmd := c.procs[i]
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		c.log.Info("stopped", "process", c.names[i])
	}
}

// freeAddr returns addr, or another free loopback port when addr is taken, so a busy 8080
// does not stop the demonstration.
func freeAddr(w io.Writer, addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		return addr
	}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return addr
	}
	defer ln.Close()
	free := ln.Addr().String()
	fmt.Fprintf(w, "==> %s is taken; the API listens on %s instead\n", addr, free)
	return free
}

func healthy(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
