// Command h2k-worker is the worker host daemon for EC2 bare-metal hosts: it probes what the
// host can do, registers, heartbeats, long-polls the SQS queues it can serve, claims each job
// under a lease in DynamoDB and runs the real tools. SIGINT/SIGTERM stop it in two phases.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/worker-host/agent"
	"github.com/hyper2kvm/controlplane/worker-host/executor"
	"github.com/hyper2kvm/controlplane/worker-host/hostconfig"
	"github.com/hyper2kvm/controlplane/worker-host/imagetool"
	"github.com/hyper2kvm/controlplane/worker-host/paths"
	"github.com/hyper2kvm/controlplane/worker-host/probe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := awsenv.Logger()
	fail := func(what string, err error) {
		log.Error(what, "error", err)
		os.Exit(1)
	}
	host, err := hostconfig.FromEnv(os.Getenv)
	if err != nil {
		fail("configuration", err)
	}
	cfg, err := awsenv.FromEnv(os.Getenv)
	if err != nil {
		fail("configuration", err)
	}
	for _, d := range []string{host.OutputRoot, host.WorkDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			fail("configuration", err)
		}
	}
	roots, err := paths.New(host.InputRoots, []string{host.OutputRoot})
	if err != nil {
		fail("configuration", err)
	}
	tool, err := imagetool.New(imagetool.Config{Logger: log, ProgressInterval: 200 * time.Millisecond})
	if err != nil {
		fail("qemu-img", err)
	}
	svc, err := awsenv.Build(ctx, cfg, log)
	if err != nil {
		fail("start", err)
	}
	rep := probe.Probe(ctx, probe.Options{WorkDir: host.OutputRoot, Logger: log})
	log.Info("host probed", "capabilities", rep)
	reg := domain.Registration{WorkerID: host.WorkerID, ExecutionMode: host.ExecutionMode,
		MaxConcurrentJobs: host.MaxJobs, OSInfo: map[string]any{"probe": rep}}
	rep.Fill(&reg)
	exec := &executor.Executor{Tool: tool, Roots: roots, OutputRoot: host.OutputRoot,
		WorkDir: host.WorkDir, Log: log, Now: time.Now}
	a, err := agent.New(svc, exec, agent.Config{Registration: reg, PollWait: host.PollWait,
		Heartbeat: host.Heartbeat, Grace: host.Grace}, log)
	if err != nil {
		fail("start", err)
	}
	if err := a.Run(ctx); err != nil {
		fail("run", err)
	}
}
