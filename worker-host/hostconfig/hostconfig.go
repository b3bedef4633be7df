// Package hostconfig reads the worker host daemon's settings from its environment, with
// defaults for an EC2 bare-metal host, and checks them before the daemon starts.
package hostconfig

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is the worker host's own configuration (the AWS side comes from awsenv).
type Config struct {
	WorkerID      string
	InputRoots    []string
	OutputRoot    string
	WorkDir       string
	MaxJobs       int
	PollWait      time.Duration
	Heartbeat     time.Duration
	Grace         time.Duration
	ExecutionMode string
}

// FromEnv reads H2K_* variables; getenv is os.Getenv outside tests.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		WorkerID:      getenv("WORKER_ID"),
		InputRoots:    split(or(getenv("H2K_INPUT_ROOTS"), "/data")),
		OutputRoot:    or(getenv("H2K_OUTPUT_ROOT"), "/var/lib/hyper2kvm/output"),
		WorkDir:       or(getenv("H2K_WORK_DIR"), "/var/lib/hyper2kvm/work"),
		ExecutionMode: or(getenv("H2K_EXECUTION_MODE"), "host"),
	}
	if c.WorkerID == "" {
		c.WorkerID = defaultID()
	}
	var err error
	num := func(name string, def int, dst *int) {
		if err != nil {
			return
		}
		*dst = def
		if v := getenv(name); v != "" {
			if *dst, err = strconv.Atoi(v); err != nil || *dst < 1 {
				err = fmt.Errorf("%s must be a positive integer, got %q", name, v)
			}
		}
	}
	var poll, beat, grace int
	num("H2K_MAX_JOBS", 1, &c.MaxJobs)
	num("H2K_POLL_WAIT_SECONDS", 20, &poll)
	num("H2K_HEARTBEAT_SECONDS", 30, &beat)
	num("H2K_SHUTDOWN_GRACE_SECONDS", 30, &grace)
	c.PollWait, c.Heartbeat = time.Duration(poll)*time.Second, time.Duration(beat)*time.Second
	c.Grace = time.Duration(grace) * time.Second
	if err == nil && poll > 20 {
		err = fmt.Errorf("H2K_POLL_WAIT_SECONDS must be at most 20 (the SQS limit)")
	}
	return c, err
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// defaultID derives a worker id from the host name, within the protocol's character set.
func defaultID() string {
	h, _ := os.Hostname()
	id := strings.TrimLeft(unsafeID.ReplaceAllString(h, "-"), "._-")
	if id == "" {
		id = "worker"
	}
	return id[:min(len(id), 128)]
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
