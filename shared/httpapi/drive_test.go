package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/service"
)

// Helpers that drive a job through the service, as the worker host does over SQS and
// DynamoDB directly, while the test watches it over HTTP.

var svcWorker = domain.Worker{WorkerID: "host-1", Capabilities: domain.Capabilities{QemuImg: true}}

// claim registers svcWorker and claims the next job for it.
func (f *fixture) claim() service.Lease {
	f.t.Helper()
	reg := domain.Registration{WorkerID: svcWorker.WorkerID, Capabilities: svcWorker.Capabilities}
	if _, err := f.st.Svc.Register(f.ctx, reg); err != nil {
		f.t.Fatalf("register: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for round := 0; time.Now().Before(deadline); round++ {
		got, err := f.st.Svc.Poll(f.ctx, svcWorker, round, time.Second)
		if err != nil {
			f.t.Fatalf("poll: %v", err)
		}
		if got != nil {
			return got.Lease
		}
	}
	f.t.Fatal("no job was handed out within a minute")
	return service.Lease{}
}

// progress reports pct for the lease holder.
func (f *fixture) progress(l service.Lease, pct float64) domain.Event {
	f.t.Helper()
	ev, _, err := f.st.Svc.ReportEvent(f.ctx, l.JobID, l.Token, domain.EventReport{
		Phase: domain.PhaseConversion, ProgressPercent: &pct, Message: "converting"})
	if err != nil {
		f.t.Fatalf("report %v: %v", pct, err)
	}
	return ev
}

// end writes the lease holder's result: COMPLETED, or FAILED with code.
func (f *fixture) end(l service.Lease, code domain.ResultCode) domain.Job {
	f.t.Helper()
	r := domain.Result{Status: domain.StateCompleted,
		Outputs: domain.Outputs{FixedImage: "/out/" + l.JobID + ".qcow2"}}
	if code != "" {
		r = domain.Result{Status: domain.StateFailed, Error: &domain.JobError{
			Phase: domain.PhasePreflight, Code: code, Message: "vm.vmdk does not exist"}}
	}
	job, err := f.st.Svc.Finish(f.ctx, l.JobID, l.Token, r)
	if err != nil {
		f.t.Fatalf("finish: %v", err)
	}
	return job
}

// runJob submits the example job and drives it to its end with reports of pcts.
func (f *fixture) runJob(code domain.ResultCode, pcts ...float64) {
	f.t.Helper()
	f.submit(exampleJob, true)
	l := f.claim()
	for _, p := range pcts {
		f.progress(l, p)
	}
	f.end(l, code)
}

// stream opens an event stream; the answer's body is closed when the test ends.
func (f *fixture) stream(path string, headers ...string) (*http.Response, *client.SSEReader) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		cancel()
		f.t.Fatalf("GET %s: %v", path, err)
	}
	f.t.Cleanup(func() {
		resp.Body.Close()
		cancel()
	})
	return resp, client.NewSSEReader(resp.Body)
}

// next reads one event, failing the test when the stream ends instead.
func next(t *testing.T, rd *client.SSEReader) client.SSEEvent {
	t.Helper()
	ev, err := rd.Next()
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	return ev
}
