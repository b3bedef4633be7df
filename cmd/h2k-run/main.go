// Command h2k-run is what `make run` runs: the whole local stack converting one real disk
// image end to end through the API, with live progress. Ctrl-C stops everything it started.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hyper2kvm/controlplane/shared/localrun"
)

func main() {
	var o localrun.Options
	flag.StringVar(&o.RepoRoot, "root", ".", "repository root")
	flag.StringVar(&o.ServerBin, "server", ".local/bin/h2k-server", "API server binary")
	flag.StringVar(&o.WorkerBin, "worker", ".local/bin/h2k-worker", "worker host binary")
	flag.StringVar(&o.Image, "image", os.Getenv("IMAGE"), "disk image to convert (default: "+
		"a generated 1 GiB VMDK)")
	flag.Int64Var(&o.VirtualSize, "size", 1<<30, "virtual size of the generated VMDK")
	flag.StringVar(&o.APIAddr, "listen", "127.0.0.1:8080", "API address (loopback only)")
	flag.BoolVar(&o.Keep, "keep", os.Getenv("KEEP") == "1", "keep the stack running afterwards")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Out = os.Stdout
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := localrun.Run(ctx, o); err != nil {
		o.Log.Error("run failed", "error", err)
		stop()
		os.Exit(1)
	}
}
