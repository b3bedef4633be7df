// Command h2k is the command-line client of the hyper2kvm job API: submit jobs, follow their
// progress, list and cancel them, and look at workers and the queue. Everything it does
// lives in shared/cli; this file only binds it to the process. `h2k help` lists the
// commands and the exit codes scripts can rely on.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hyper2kvm/controlplane/shared/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C lets the command stop cleanly; restoring the default then makes a
	// second one end the process even where nothing watches ctx, such as a read of stdin.
	context.AfterFunc(ctx, stop)
	code := cli.Run(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
