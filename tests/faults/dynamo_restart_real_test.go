package faults

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/awsenv"
	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/dynamo"
	"github.com/hyper2kvm/controlplane/shared/localaws"
	"github.com/hyper2kvm/controlplane/shared/sqsqueue"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// outageRig is the real worker binary converting the 1 GiB test disk through the API
// server binary, both over a DynamoDB of the test's own that keeps its data on disk.
type outageRig struct {
	ctx    context.Context
	p      *processStack
	db     *privateDynamo
	dbDir  string
	worker *child
	image  string
	id     string
}

// newOutageRig starts the rig and submits the compressed conversion id.
func newOutageRig(t *testing.T, workerID, id string) *outageRig {
	t.Helper()
	_, _, image := artifacts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	// Outside the job's folder: the DynamoDB process names its data path on its command line.
	r := &outageRig{ctx: ctx, dbDir: t.TempDir(), image: image, id: id}
	r.db = startPrivateDynamo(t, ctx, r.dbDir, 0)
	r.p = processStackOver(t, privateStack(t, ctx, r.db), filepath.Dir(image))
	r.worker = r.p.startWorker(t, workerID)
	r.p.submitConversion(t, id)
	return r
}

// waitHealthy waits for the API, which was never restarted, to answer /health again.
func (r *outageRig) waitHealthy(t *testing.T, began time.Time) {
	t.Helper()
	waitFor(t, "the API to recover", 60*time.Second, func() bool {
		return r.p.api.do(http.MethodGet, "/health", "").status == http.StatusOK
	})
	mid := r.p.api.job(r.id)
	t.Logf("API healthy %s after the outage began; job %s at %.1f%%",
		time.Since(began).Round(time.Millisecond), mid.State, progress(mid))
}

// checkEnd waits for the job to end and checks that it completed once, by the rig's worker,
// with a correct output, that nothing from before the outage was lost, that no message is
// left over and that the worker process rode the outage out.
func (r *outageRig) checkEnd(t *testing.T, before domain.Job, evBefore []domain.Event,
	began time.Time) domain.Job {
	t.Helper()
	job := r.p.api.waitJob(r.id, 150*time.Second, terminal)
	logRestartOutcome(t, job, began)
	checkCompletedOnce(t, job, r.worker.name)
	checkKept(t, before, job, evBefore, allEvents(t, r.p.api, r.id))
	checkOutput(t, r.image, r.p.dirs.output, r.id+".qcow2")
	waitQueuesEmpty(t, r.ctx, queueOf(r.p.st))
	select {
	case <-r.worker.done:
		t.Errorf("%s exited during the test; it should ride the outage out", r.worker.name)
	default:
	}
	return job
}

// DynamoDB restarted in place (on-disk data) while the real worker binary converts the
// 1 GiB disk with qemu-img: the API server answers 503 with the envelope meanwhile and
// recovers by itself; the job completes exactly once with a correct output, and its
// history and events from before the restart are all still there.
func TestDynamoDBRestartDuringRealConversion(t *testing.T) {
	t.Parallel()
	r := newOutageRig(t, "worker-r", "restart-real")
	before := r.p.waitProgress(t, r.id, 10)
	evBefore := allEvents(t, r.p.api, r.id)
	began := time.Now()
	got, err := probeDuring(r.p.api, r.id, func() error { return r.db.svcs.RestartDynamo(r.ctx) })
	if err != nil {
		t.Fatalf("restart dynamodb: %v", err)
	}
	t.Logf("RestartDynamo at %.1f%% took %s", progress(before),
		time.Since(began).Round(time.Millisecond))
	checkOutageAnswers(t, got, "/health", "/jobs/"+r.id)
	r.waitHealthy(t, began)
	r.checkEnd(t, before, evBefore, began)
}

// DynamoDB down (stopped, then started again on its data) exactly when the real worker
// writes its result: the write fails, and the job must still complete exactly once with a
// correct output and nothing from before the outage lost.
func TestDynamoDBOutageAtResultWriteRealWorker(t *testing.T) {
	t.Parallel()
	r := newOutageRig(t, "worker-w", "result-outage-real")
	// From 90 % on, qemu-img compares the output with the source; the result follows.
	before := r.p.waitProgress(t, r.id, 91)
	evBefore := allEvents(t, r.p.api, r.id)
	began := time.Now()
	if err := r.db.svcs.Stop(); err != nil {
		t.Fatalf("stop dynamodb: %v", err)
	}
	waitFor(t, "the worker's result write", 60*time.Second, func() bool {
		return r.worker.countLog(`"msg":"write result"`)+
			r.worker.countLog(`"msg":"job finished"`) > 0
	})
	failed := r.worker.countLog(`"msg":"write result"`) > 0
	t.Logf("stopped at %.1f%%; result write failed during the outage: %v", progress(before),
		failed)
	check503(t, "GET /jobs/"+r.id+" during the outage", r.p.api.do(http.MethodGet,
		"/jobs/"+r.id, ""))
	r.db = startPrivateDynamo(t, r.ctx, r.dbDir, r.db.port)
	r.waitHealthy(t, began)
	job := r.checkEnd(t, before, evBefore, began)
	// The worker keeps retrying its result while DynamoDB is down, so the finished
	// conversion is written once and never redone.
	if started := r.worker.countLog(`"msg":"job started"`); started != 1 || job.Attempt != 1 {
		t.Errorf("conversions started: got %d (attempt %d), want 1 (attempt 1)", started,
			job.Attempt)
	}
}

// processStackOver is newProcessStack over a stack the test made, with input as the
// workers' input root. Tests that need other tables or queue settings use it.
func processStackOver(t *testing.T, st *stacktest.Stack, input string) *processStack {
	t.Helper()
	server, worker, _ := artifacts(t)
	p := &processStack{st: st, dir: t.TempDir(), worker: worker}
	p.dirs = hostDirs{input: input, output: filepath.Join(p.dir, "out"),
		work: filepath.Join(p.dir, "work")}
	for _, d := range []string{p.dirs.input, p.dirs.output, p.dirs.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p.api = startServer(t, server, p.dir, st)
	return p
}

// privateStack puts a test's tables in the private DynamoDB and its queues in the shared
// SQS, so that restarting that DynamoDB disturbs no other test. Its Svc and Environ serve
// the test and its child processes alike.
func privateStack(t *testing.T, ctx context.Context, db *privateDynamo) *stacktest.Stack {
	t.Helper()
	prefix := localaws.UniquePrefix(t)
	cfg := awsenv.Config{Region: "us-east-1", DynamoEndpoint: db.svcs.DynamoEndpoint,
		SQSEndpoint: localaws.ForTests(t).SQSEndpoint,
		Tables: dynamo.Tables{Jobs: prefix + "-jobs", Events: prefix + "-events",
			Workers: prefix + "-workers"}}
	dbc, q, err := awsenv.Clients(ctx, cfg)
	if err == nil {
		err = dynamo.CreateTables(ctx, dbc, cfg.Tables)
	}
	if err == nil {
		cfg.Queues, cfg.DeadLetters, err = sqsqueue.CreateQueues(ctx, q, prefix, 10)
	}
	if err != nil {
		t.Fatalf("private stack: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	svc, err := awsenv.Build(ctx, cfg, log)
	if err != nil {
		t.Fatalf("private stack service: %v", err)
	}
	return &stacktest.Stack{Config: cfg, DB: dbc, SQS: q, Svc: svc, Log: log}
}

// probed is one answer the API gave while a fault was under way.
type probed struct {
	path string
	r    reply
}

// probeDuring runs fault while one goroutine keeps reading the job, its events and /health,
// and returns every answer received until fault returned.
func probeDuring(c *client, id string, fault func() error) ([]probed, error) {
	paths := []string{"/jobs/" + id, "/jobs/" + id + "/events?limit=1", "/health"}
	stop := make(chan struct{})
	var got []probed
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 3000 { // ~20 ms apart at least: bounded at about a minute
			select {
			case <-stop:
				return
			default:
			}
			path := paths[i%len(paths)]
			got = append(got, probed{path: path, r: c.do(http.MethodGet, path, "")})
			time.Sleep(20 * time.Millisecond)
		}
	})
	err := fault()
	close(stop)
	wg.Wait()
	return got, err
}

// checkOutageAnswers: every answer is a 200 (before the stop or after the start) or a 503
// with the envelope, and each of must saw at least one 503.
func checkOutageAnswers(t *testing.T, got []probed, must ...string) {
	t.Helper()
	unavailable := map[string]int{}
	for _, g := range got {
		if g.r.err == nil && g.r.status == http.StatusOK {
			continue
		}
		check503(t, "during the restart: GET "+g.path, g.r)
		unavailable[g.path]++
	}
	t.Logf("during the restart: %d answers, 503 by path %v", len(got), unavailable)
	for _, path := range must {
		if unavailable[path] == 0 {
			t.Errorf("GET %s: no 503 during the restart, want at least one", path)
		}
	}
}

func logRestartOutcome(t *testing.T, job domain.Job, began time.Time) {
	t.Helper()
	t.Logf("job ended %s %s after the outage began, attempt %d, lost-lease requeue %v",
		job.State, job.UpdatedAt.Sub(began).Round(10*time.Millisecond), job.Attempt,
		lostLeaseRequeue(job))
}

// checkCompletedOnce: COMPLETED by the one worker, with one COMPLETED in the history.
func checkCompletedOnce(t *testing.T, job domain.Job, by string) {
	t.Helper()
	who := ""
	if job.Result != nil {
		who = job.Result.WorkerID
	}
	if job.State != domain.StateCompleted || countTo(job, domain.StateCompleted) != 1 ||
		who != by {
		t.Errorf("job %s: got %s by %q, want COMPLETED exactly once by %s:%s", job.JobID,
			job.State, who, by, history(job))
	}
}

// checkKept: the history before the outage is the start of the final one, and the events
// are numbered 1..n without a gap, the earlier ones unchanged.
func checkKept(t *testing.T, before, after domain.Job, evBefore, evAfter []domain.Event) {
	t.Helper()
	prefix := after
	prefix.StateHistory = after.StateHistory[:min(len(before.StateHistory),
		len(after.StateHistory))]
	if !sameHistory(before, prefix) {
		t.Errorf("history: before the outage%s\nfinal%s", history(before), history(after))
	}
	for i, ev := range evAfter {
		if ev.Seq != int64(i+1) {
			t.Fatalf("events: #%d has seq %d, want %d (a gap or a duplicate)", i, ev.Seq, i+1)
		}
	}
	if len(evAfter) < len(evBefore) {
		t.Fatalf("events: got %d after the outage, had %d before", len(evAfter), len(evBefore))
	}
	for i, want := range evBefore {
		got := evAfter[i]
		if got.Phase != want.Phase || got.Message != want.Message ||
			!got.Timestamp.Equal(want.Timestamp) || got.ProgressPercent != want.ProgressPercent {
			t.Errorf("event %d: got %+v, want %+v", want.Seq, got, want)
		}
	}
	t.Logf("events: %d before the outage, %d in all", len(evBefore), len(evAfter))
}

// allEvents reads every event of a job over HTTP, page by page.
func allEvents(t *testing.T, c *client, id string) []domain.Event {
	t.Helper()
	var out []domain.Event
	after := int64(0)
	for range 100 {
		var page struct {
			Events    []domain.Event `json:"events"`
			NextAfter int64          `json:"next_after"`
		}
		path := fmt.Sprintf("/jobs/%s/events?after=%d&limit=1000", id, after)
		decode(t, c.must(http.MethodGet, path, "", http.StatusOK).body, &page)
		if len(page.Events) == 0 {
			return out
		}
		out = append(out, page.Events...)
		after = page.NextAfter
	}
	t.Fatalf("job %s: more than 100 pages of events", id)
	return nil
}
