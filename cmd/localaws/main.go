// Command localaws runs DynamoDB Local and the fauxqs SQS emulator on 127.0.0.1, either around
// one command or until interrupted.
//
//	go run ./cmd/localaws [-dynamo-port N] [-sqs-port N] [-db-path DIR] -- CMD ARGS...
//
// With a command, the command gets H2K_DYNAMODB_ENDPOINT, H2K_SQS_ENDPOINT and static dummy AWS
// credentials in its environment, and localaws exits with its exit code once the services are
// stopped. This is how `make test` runs one `go test ./...` against one set of services. With no
// command it prints the endpoints and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/hyper2kvm/controlplane/shared/localaws"
)

// childGrace is how long the command gets to exit after a forwarded SIGTERM before SIGKILL.
const childGrace = 30 * time.Second

// config is what the command line asks for.
type config struct {
	opts    localaws.Options
	verbose bool
	command []string
}

// stdio are the streams handed to the child command.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, std stdio) int {
	cfg, err := parseArgs(args, std.err)
	if err != nil {
		return 2
	}
	log := newLogger(std.err, cfg.verbose)
	cfg.opts.Logger = log
	code, err := serve(ctx, cfg, std)
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		log.Info("interrupted before the services were ready")
	case err != nil:
		log.Error("local aws services failed", "error", err)
	}
	return code
}

func parseArgs(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("localaws", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: localaws [flags] [-- CMD ARGS...]")
		fs.PrintDefaults()
	}
	fs.IntVar(&cfg.opts.DynamoPort, "dynamo-port", 0, "DynamoDB Local port (0: a free one)")
	fs.IntVar(&cfg.opts.SQSPort, "sqs-port", 0, "SQS emulator port (0: a free one)")
	fs.StringVar(&cfg.opts.DynamoDBPath, "db-path", "",
		"keep DynamoDB data in `DIR` (default: in memory)")
	fs.StringVar(&cfg.opts.RepoRoot, "repo", "",
		"repository root (default: found from the working directory)")
	fs.BoolVar(&cfg.verbose, "v", false, "log the services' own output")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg.command = fs.Args()
	return cfg, nil
}

func newLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// serve starts the services, runs the command or waits for ctx, and stops the services. The
// exit code is the command's, 0 when there is none, and 1 when the services fail.
func serve(ctx context.Context, cfg config, std stdio) (code int, err error) {
	svc, err := localaws.Start(ctx, cfg.opts)
	if err != nil {
		return 1, err
	}
	defer func() {
		if stopErr := svc.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	if len(cfg.command) == 0 {
		printEndpoints(std.out, svc.Endpoints)
		<-ctx.Done()
		return 0, nil
	}
	return runChild(ctx, cfg.command, svc.Environ(), std)
}

func printEndpoints(w io.Writer, ep localaws.Endpoints) {
	fmt.Fprintf(w, "DynamoDB: %s\nSQS:      %s\n\n", ep.DynamoEndpoint, ep.SQSEndpoint)
	fmt.Fprintln(w, "# for another shell:")
	for _, kv := range ep.Environ() {
		fmt.Fprintln(w, "export", kv)
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}

// runChild runs argv with env added and returns its exit code. When ctx ends (localaws got a
// signal) the child gets SIGTERM: a Ctrl-C from a terminal has reached it already, but a SIGTERM
// sent to localaws alone has not.
func runChild(ctx context.Context, argv, env []string, std stdio) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = std.in, std.out, std.err
	if err := cmd.Start(); err != nil {
		return 127, fmt.Errorf("run %s: %w", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return exitCode(err)
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM) // fails only if it has just exited
	select {
	case err := <-done:
		return exitCode(err)
	case <-time.After(childGrace):
	}
	_ = cmd.Process.Kill()
	return exitCode(<-done)
}

// exitCode maps a finished command to a shell-style exit status: its own code, or 128 plus
// the signal that killed it.
func exitCode(err error) (int, error) {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		if err != nil {
			return 1, fmt.Errorf("wait for command: %w", err)
		}
		return 0, nil
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return exit.ExitCode(), nil
}
