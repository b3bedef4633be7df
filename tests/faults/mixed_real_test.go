package faults

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/localrun"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// smallDisk is the virtual size of the mixed test's disk: many real conversions stay quick.
const smallDisk = 64 << 20

// realMix is one job of the mixed test with real workers.
type realMix struct {
	id       string
	priority int
	compress bool
	nbd      bool // needs nbd, which the probe finds on no ordinary host
	huge     bool // needs more memory than any host has
}

// realMixJobs: twelve plain conversions of priorities 1..10, two needing nbd (one urgent,
// one not) and one needing a petabyte of memory.
func realMixJobs() []realMix {
	var out []realMix
	for i := range 12 {
		out = append(out, realMix{id: fmt.Sprintf("rmix-%02d", i), priority: i%10 + 1,
			compress: i%3 == 0})
	}
	return append(out, realMix{id: "rmix-nbd-p1", priority: 1, nbd: true},
		realMix{id: "rmix-nbd-p10", priority: 10, nbd: true},
		realMix{id: "rmix-huge", priority: 5, huge: true})
}

func (m realMix) body(image string) string {
	req := ""
	switch {
	case m.nbd:
		req = `"needs_nbd": true`
	case m.huge:
		req = `"min_memory_gb": 1000000`
	}
	return fmt.Sprintf(`{"job_id": %q, "operation": "convert", "image": {"path": %q, `+
		`"format": "vmdk"}, "parameters": {"output_format": "qcow2", "compress": %t}, `+
		`"execution_policy": {"priority": %d}, "capability_requirements": {%s}}`,
		m.id, image, m.compress, m.priority, req)
}

func (m realMix) runnable(hostNBD bool) bool { return !m.huge && (!m.nbd || hostNBD) }

// mixSlots are the three worker processes and their H2K_MAX_JOBS.
var mixSlots = map[string]int{"mix-a": 2, "mix-b": 2, "mix-c": 1}

// mixRun is the mixed test's fixture: its stack, source disk, jobs, worker processes, and
// the jobs as they ended.
type mixRun struct {
	p       *processStack
	image   string
	jobs    []realMix
	workers map[string]*child
	final   map[string]domain.Job
	hostNBD bool
}

// Fifteen jobs of mixed priorities and requirements, queued before three real worker
// processes start: every job the host can run completes once, on one worker, with an
// output equal to its source; the jobs needing nbd or a petabyte of memory stay QUEUED
// with a reason naming what is missing and never reach a dead-letter queue; no worker ran
// more jobs at once than its H2K_MAX_JOBS; the counts in the store, in the results and in
// the workers' logs agree.
func TestMixedPrioritiesRealWorkers(t *testing.T) {
	t.Parallel()
	m := setupMix(t)
	began := time.Now()
	for id, n := range mixSlots {
		m.workers[id] = startSlottedWorker(t, m.p, id, n)
	}
	m.hostNBD = checkMixWorkers(t, m.p.api)
	for _, j := range m.jobs {
		if j.runnable(m.hostNBD) {
			m.final[j.id] = m.p.api.waitJob(j.id, 90*time.Second, terminal)
		}
	}
	t.Logf("runnable jobs done %s after the workers started", time.Since(began).Round(
		time.Millisecond))
	m.holdWaiting(t, began.Add(waitingHold))
	m.checkRan(t)
	m.checkWaiting(t)
	m.checkOutputs(t)
	m.checkCounts(t)
	m.checkSlots(t)
}

// setupMix makes the small disk and queues every job before any worker runs.
func setupMix(t *testing.T) *mixRun {
	t.Helper()
	artifacts(t) // skips without qemu-img
	// A message received a second time is dead-lettered; hand-backs must never be.
	st := stacktest.New(t, stacktest.Options{MaxReceives: 1,
		Service: service.Config{Lease: 4 * time.Second}})
	p := processStackOver(t, st, filepath.Join(t.TempDir(), "in"))
	image, err := localrun.MakeTestDisk(t.Context(), p.dirs.input, smallDisk)
	if err != nil {
		t.Fatalf("make test disk: %v", err)
	}
	m := &mixRun{p: p, image: image, jobs: realMixJobs(), workers: map[string]*child{},
		final: map[string]domain.Job{}}
	for _, j := range m.jobs {
		p.api.must(http.MethodPost, "/jobs?queue=true", j.body(image), http.StatusCreated)
	}
	return m
}

// waitingHold is how long after the workers start the jobs they cannot run are watched:
// long enough for each to be received and handed back (with the service's 5 s delay) twice,
// which with a dead-letter threshold of 1 would dead-letter a message that was reused.
const waitingHold = 12 * time.Second

// holdWaiting watches the jobs this host cannot run until the given time: none may leave
// QUEUED and no message may reach a dead-letter queue. It records their last state.
func (m *mixRun) holdWaiting(t *testing.T, until time.Time) {
	t.Helper()
	delayed := 0
	for first := true; first || time.Now().Before(until); first = false {
		for _, j := range m.jobs {
			if j.runnable(m.hostNBD) {
				continue
			}
			m.final[j.id] = m.p.api.job(j.id)
			if st := m.final[j.id].State; st != domain.StateQueued {
				t.Fatalf("%s left QUEUED: %s:%s", j.id, st, history(m.final[j.id]))
			}
		}
		qs, err := m.p.st.Svc.QueueStatus(t.Context())
		if err != nil || qs.DeadLetter != 0 {
			t.Fatalf("dead letters: got %d (%v), want 0", qs.DeadLetter, err)
		}
		delayed = max(delayed, qs.Delayed)
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("up to %d handed-back messages seen delayed at once", delayed)
	if delayed == 0 {
		t.Errorf("no handed-back message seen: the workers never refused a job")
	}
}

// runnable is how many of the jobs this host can run.
func (m *mixRun) runnable() int {
	n := 0
	for _, j := range m.jobs {
		if j.runnable(m.hostNBD) {
			n++
		}
	}
	return n
}

// startSlottedWorker runs the worker binary like startWorker, with H2K_MAX_JOBS=slots.
func startSlottedWorker(t *testing.T, p *processStack, id string, slots int) *child {
	t.Helper()
	env := append(append(p.st.Environ(), timing...), "WORKER_ID="+id,
		"H2K_MAX_JOBS="+strconv.Itoa(slots), "H2K_INPUT_ROOTS="+p.dirs.input,
		"H2K_OUTPUT_ROOT="+p.dirs.output, "H2K_WORK_DIR="+p.dirs.work,
		"H2K_POLL_WAIT_SECONDS=1", "H2K_HEARTBEAT_SECONDS=1", "H2K_SHUTDOWN_GRACE_SECONDS=3")
	return startChild(t, id, p.worker, p.dir, env)
}

// checkMixWorkers waits for the three workers to be alive, checks the slots they registered
// and returns whether this host has nbd, as their probes found.
func checkMixWorkers(t *testing.T, c *client) bool {
	t.Helper()
	var ws []domain.Worker
	waitFor(t, "three alive workers", 60*time.Second, func() bool {
		var page struct {
			Workers []domain.Worker `json:"workers"`
		}
		decode(t, c.must(http.MethodGet, "/workers", "", http.StatusOK).body, &page)
		ws = page.Workers
		alive := 0
		for _, w := range ws {
			if w.Status == "alive" {
				alive++
			}
		}
		return alive == len(mixSlots)
	})
	nbd := 0
	for _, w := range ws {
		if w.MaxConcurrentJobs != mixSlots[w.WorkerID] || !w.Capabilities.QemuImg {
			t.Errorf("worker %s: registered %d slots, qemu_img %v; want %d, true", w.WorkerID,
				w.MaxConcurrentJobs, w.Capabilities.QemuImg, mixSlots[w.WorkerID])
		}
		if w.Capabilities.NBD {
			nbd++
		}
	}
	t.Logf("probed capabilities: %+v, %d GB memory", ws[0].Capabilities, ws[0].MemoryGB)
	if nbd != 0 && nbd != len(ws) {
		t.Fatalf("%d of %d workers on one host found nbd", nbd, len(ws))
	}
	return nbd != 0
}

// checkRan: each runnable job completed after one claim, and exactly one worker's log
// says it started the job: the worker the result names.
func (m *mixRun) checkRan(t *testing.T) {
	t.Helper()
	for _, j := range m.jobs {
		if !j.runnable(m.hostNBD) {
			continue
		}
		job := m.final[j.id]
		by := ""
		if job.Result != nil {
			by = job.Result.WorkerID
		}
		if job.State != domain.StateCompleted || countTo(job, domain.StateCompleted) != 1 ||
			countTo(job, domain.StateAssigned) != 1 || job.Attempt != 1 {
			t.Errorf("%s: got %s attempt %d, want COMPLETED once after one claim:%s", j.id,
				job.State, job.Attempt, history(job))
		}
		var starters []string
		for id, w := range m.workers {
			for range w.countLog(`"msg":"job started"`, `"job_id":"`+j.id+`"`) {
				starters = append(starters, id)
			}
		}
		if len(starters) != 1 || starters[0] != by {
			t.Errorf("%s: started by %v, result by %q; want one start, by the same worker",
				j.id, starters, by)
		}
	}
}

// checkWaiting: the jobs this host cannot run were never claimed and wait, QUEUED, with
// a reason naming what is missing.
func (m *mixRun) checkWaiting(t *testing.T) {
	t.Helper()
	for _, j := range m.jobs {
		if j.runnable(m.hostNBD) {
			continue
		}
		job, want := m.final[j.id], "nbd"
		if j.huge {
			want = "GB of memory"
		}
		if job.State != domain.StateQueued || countTo(job, domain.StateAssigned) != 0 ||
			!strings.Contains(job.WaitingReason, want) {
			t.Errorf("%s: got %s waiting %q:%s; want QUEUED, never claimed, waiting for %s",
				j.id, job.State, job.WaitingReason, history(job), want)
		}
	}
}

// checkOutputs: the output folder holds one output per runnable job and nothing else,
// each with the source's guest content.
func (m *mixRun) checkOutputs(t *testing.T) {
	t.Helper()
	dir := m.p.dirs.output
	var want []string
	for _, j := range m.jobs {
		if j.runnable(m.hostNBD) {
			want = append(want, j.id+".qcow2")
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read output dir: %v", err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("output dir: got %q, want %q", got, want)
	}
	for _, name := range got {
		cmd := exec.CommandContext(t.Context(), "qemu-img", "compare", "-f", "vmdk", "-F",
			"qcow2", m.image, filepath.Join(dir, name))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("qemu-img compare source %s: %v: %s", name, err, b)
		}
	}
}

// checkCounts reconciles the store's listing, the dead-letter queues, the results and the
// workers' logs: every job a worker started is one the store shows it completed.
func (m *mixRun) checkCounts(t *testing.T) {
	t.Helper()
	ctx, svc, runnable := t.Context(), m.p.st.Svc, m.runnable()
	done, err1 := countState(ctx, svc, domain.StateCompleted)
	queued, err2 := countState(ctx, svc, domain.StateQueued)
	qs, err3 := svc.QueueStatus(ctx)
	if done != runnable || queued != len(m.jobs)-runnable || qs.DeadLetter != 0 ||
		err1 != nil || err2 != nil || err3 != nil {
		t.Errorf("counts: got %d COMPLETED, %d QUEUED, %d dead letters (%v %v %v); "+
			"want %d, %d, 0", done, queued, qs.DeadLetter, err1, err2, err3, runnable,
			len(m.jobs)-runnable)
	}
	byWorker := map[string]int{}
	for _, job := range m.final {
		if job.Result != nil {
			byWorker[job.Result.WorkerID]++
		}
	}
	total := 0
	for id, w := range m.workers {
		started := w.countLog(`"msg":"job started"`)
		total += started
		if started != byWorker[id] {
			t.Errorf("%s: started %d jobs, completed %d", id, started, byWorker[id])
		}
	}
	if total != runnable {
		t.Errorf("jobs started across the workers: got %d, want %d", total, runnable)
	}
}

// mixSpan is one completed job: who ran it, from its claim to its completion.
type mixSpan struct {
	id, worker string
	prio       int
	from, to   time.Time
}

// spans lists the completed jobs in the order they were claimed.
func (m *mixRun) spans() []mixSpan {
	var out []mixSpan
	for _, j := range m.jobs {
		job := m.final[j.id]
		if job.State == domain.StateCompleted && job.Result != nil {
			out = append(out, mixSpan{id: j.id, worker: job.Result.WorkerID, prio: j.priority,
				from: reachedAt(job, domain.StateAssigned),
				to:   reachedAt(job, domain.StateCompleted)})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].from.Before(out[b].from) })
	return out
}

// checkSlots logs who ran what, in the order of the claims, checks that the first claim
// took an urgent job, and that no worker ran more jobs at once than it has slots.
func (m *mixRun) checkSlots(t *testing.T) {
	t.Helper()
	spans := m.spans()
	var order []string
	per := map[string][][2]time.Time{}
	for _, s := range spans {
		order = append(order, fmt.Sprintf("%s(p%d)@%s", s.id, s.prio, s.worker))
		per[s.worker] = append(per[s.worker], [2]time.Time{s.from, s.to})
	}
	t.Logf("claim order: %s", strings.Join(order, " "))
	// Every job was queued before any worker polled, and a first poll tries the high band
	// first.
	if len(spans) > 0 && domain.BandOf(spans[0].prio) != domain.BandHigh {
		t.Errorf("first claim: got %s of priority %d, want a high-band job", spans[0].id,
			spans[0].prio)
	}
	for w, ss := range per {
		n := maxOverlap(ss)
		t.Logf("%s ran %d jobs, at most %d at once", w, len(ss), n)
		if n > mixSlots[w] {
			t.Errorf("%s ran %d jobs at once, want at most H2K_MAX_JOBS=%d", w, n, mixSlots[w])
		}
	}
}

// reachedAt is when the job last moved to st.
func reachedAt(j domain.Job, st domain.State) time.Time {
	var at time.Time
	for _, tr := range j.StateHistory {
		if tr.ToState == st {
			at = tr.Timestamp
		}
	}
	return at
}

// maxOverlap is the largest number of spans open at one instant; a span ending when
// another starts does not overlap it.
func maxOverlap(spans [][2]time.Time) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var edges []edge
	for _, s := range spans {
		edges = append(edges, edge{s[0], 1}, edge{s[1], -1})
	}
	sort.Slice(edges, func(a, b int) bool {
		if edges[a].at.Equal(edges[b].at) {
			return edges[a].delta < edges[b].delta
		}
		return edges[a].at.Before(edges[b].at)
	})
	open, most := 0, 0
	for _, e := range edges {
		open += e.delta
		most = max(most, open)
	}
	return most
}
