// Command h2k-server runs the whole job API locally on 127.0.0.1, on the same handlers as the
// Lambda functions, configured by the same environment variables plus H2K_LISTEN and
// H2K_SWEEP_SECONDS (how often the sweeper runs; default 5).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/localserver"
	"github.com/hyper2kvm/controlplane/shared/metrics"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := awsenv.Logger()
	cfg, err := awsenv.FromEnv(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(2)
	}
	opts, err := awsenv.APIOptions(os.Getenv)
	if err != nil {
		log.Error("configuration", "error", err)
		os.Exit(2)
	}
	svc, err := awsenv.Build(ctx, cfg, log)
	if err != nil {
		log.Error("start", "error", err)
		os.Exit(1)
	}
	opts.Metrics = metrics.Handler(svc, log)
	// A stream ends after 15 minutes, as in Lambda; clients resume with Last-Event-ID, and a
	// client that stopped reading cannot hold a connection for ever.
	opts.Stream.MaxDuration = 15 * time.Minute
	api := httpapi.New(svc, log, opts)
	addr := os.Getenv("H2K_LISTEN")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	sweep, err := time.ParseDuration(os.Getenv("H2K_SWEEP_SECONDS") + "s")
	if err != nil {
		sweep = 0 // default
	}
	srv, err := localserver.New(svc, api.Handler(), localserver.Config{Addr: addr,
		SweepEvery: sweep}, log)
	if err == nil {
		err = srv.Run(ctx)
	}
	if err != nil {
		log.Error("serve", "error", err)
		os.Exit(1)
	}
}
