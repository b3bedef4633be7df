// Package localrun is `make run`: it starts the local AWS-compatible services, the API server
// and one worker host as child processes on 127.0.0.1, converts a real disk image through the
// API exactly as a user would, shows the progress stream live and checks the output.
package localrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/dynamo"
	"github.com/hyper2kvm/controlplane/shared/localaws"
	"github.com/hyper2kvm/controlplane/shared/sqsqueue"
)

// Options configure a run.
type Options struct {
	RepoRoot             string
	ServerBin, WorkerBin string
	// Image is a disk image to convert; empty makes a test VMDK of VirtualSize bytes.
	Image       string
	VirtualSize int64
	// APIAddr is where the API listens (a loopback host:port).
	APIAddr string
	// Keep leaves the stack running after the job until interrupted.
	Keep bool
	Out  io.Writer
	Log  *slog.Logger
}

// Run does the whole demonstration; it returns an error unless the job COMPLETED and its
// output was verified equal to the source.
func Run(ctx context.Context, o Options) error {
	root, err := filepath.Abs(o.RepoRoot)
	if err != nil {
		return fmt.Errorf("repo root: %w", err)
	}
	o.RepoRoot = root
	dir := filepath.Join(root, ".local", "run")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	for _, sub := range []string{"data", "output", "work", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("make %s: %w", sub, err)
		}
	}
	say(o.Out, "starting DynamoDB Local and the SQS emulator on 127.0.0.1")
	svcs, err := localaws.Start(ctx, localaws.Options{RepoRoot: o.RepoRoot, Logger: o.Log})
	if err != nil {
		return err
	}
	defer svcs.Stop()
	env, err := provision(ctx, svcs.Endpoints)
	if err != nil {
		return err
	}
	return runStack(ctx, o, dir, env)
}

// provision creates the tables and queues and returns the environment that points the
// server and the worker at them, as Lambda's environment would.
func provision(ctx context.Context, ep localaws.Endpoints) ([]string, error) {
	cfg := awsenv.Config{Region: "us-east-1", DynamoEndpoint: ep.DynamoEndpoint,
		SQSEndpoint: ep.SQSEndpoint,
		Tables:      dynamo.Tables{Jobs: "h2k-jobs", Events: "h2k-events", Workers: "h2k-workers"}}
	db, q, err := awsenv.Clients(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := dynamo.CreateTables(ctx, db, cfg.Tables); err != nil {
		return nil, err
	}
	main, dead, err := sqsqueue.CreateQueues(ctx, q, "h2k", 10)
	if err != nil {
		return nil, err
	}
	return append(ep.Environ(), "AWS_ENDPOINT_URL_DYNAMODB="+ep.DynamoEndpoint,
		"AWS_ENDPOINT_URL_SQS="+ep.SQSEndpoint, "JOBS_TABLE="+cfg.Tables.Jobs,
		"EVENTS_TABLE="+cfg.Tables.Events, "WORKERS_TABLE="+cfg.Tables.Workers,
		"QUEUE_URLS="+main.String(), "DLQ_URLS="+dead.String()), nil
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func runStack(ctx context.Context, o Options, dir string, env []string) error {
	image, err := prepareImage(ctx, o, dir)
	if err != nil {
		return err
	}
	o.APIAddr = freeAddr(o.Out, o.APIAddr)
	client, worker := token(), token()
	env = append(env, "H2K_CLIENT_TOKEN="+client, "H2K_WORKER_TOKEN="+worker,
		"STREAM_TOKEN_SECRET="+token(), "LEASE_SECONDS=30", "HEARTBEAT_TIMEOUT_SECONDS=60")
	procs := &children{log: o.Log}
	defer procs.stopAll()
	apiEnv := append(env, "H2K_LISTEN="+o.APIAddr)
	if err := procs.start(ctx, "api", o.ServerBin, dir, apiEnv); err != nil {
		return err
	}
	base := "http://" + o.APIAddr
	if err := waitHealthy(ctx, base); err != nil {
		return err
	}
	wenv := append(env, "WORKER_ID=local-worker-1", "H2K_INPUT_ROOTS="+filepath.Dir(image),
		"H2K_OUTPUT_ROOT="+filepath.Join(dir, "output"), "H2K_WORK_DIR="+filepath.Join(dir, "work"),
		"H2K_POLL_WAIT_SECONDS=1", "H2K_HEARTBEAT_SECONDS=2")
	if err := procs.start(ctx, "worker", o.WorkerBin, dir, wenv); err != nil {
		return err
	}
	printAccess(o.Out, base, client, worker, dir)
	err = convertOnce(ctx, o, base, client, image)
	if err == nil && o.Keep {
		say(o.Out, "the stack keeps running; press Ctrl-C to stop it")
		<-ctx.Done()
	}
	return err
}

func prepareImage(ctx context.Context, o Options, dir string) (string, error) {
	if o.Image != "" {
		abs, err := filepath.Abs(o.Image)
		if err != nil {
			return "", fmt.Errorf("image %s: %w", o.Image, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("image %s: %w", o.Image, err)
		}
		return abs, nil
	}
	say(o.Out, fmt.Sprintf("making a %d MiB test VMDK with known content",
		o.VirtualSize>>20))
	return MakeTestDisk(ctx, filepath.Join(dir, "data"), o.VirtualSize)
}

func printAccess(w io.Writer, base, client, worker, dir string) {
	say(w, "API:    "+base+"   (docs: "+base+"/docs)")
	say(w, "tokens: export H2K_API="+base+" H2K_TOKEN="+client+" H2K_WORKER_TOKEN="+worker)
	say(w, "        # curl -H \"Authorization: Bearer $H2K_TOKEN\" $H2K_API/jobs")
	say(w, "images: jobs may read files under "+filepath.Join(dir, "data")+
		" (this folder is emptied by each run)")
	say(w, "logs:   "+filepath.Join(dir, "logs"))
}

func say(w io.Writer, s string) { fmt.Fprintln(w, "==> "+s) }

func waitHealthy(ctx context.Context, base string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if healthy(ctx, base) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("the API did not become healthy within 60 s (see .local/run/logs/api.log)")
}
