package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
	"github.com/hyper2kvm/controlplane/shared/service"
	"github.com/hyper2kvm/controlplane/shared/stacktest"
)

// BenchmarkStreamLatency measures the time from a progress event being written to the store
// to a connected SSE client receiving it, on the real local DynamoDB. It reports p50 and p99
// in milliseconds; the targets are 300 ms and 1 s.
func BenchmarkStreamLatency(b *testing.B) {
	st := stacktest.New(b, stacktest.Options{})
	srv := httptest.NewServer(httpapi.New(st.Svc, slog.New(slog.DiscardHandler),
		httpapi.Options{}).Handler())
	b.Cleanup(srv.Close)
	ctx := context.Background()
	spec, err := domain.ParseJobSpec([]byte(`{"job_id": "bench", "operation": "convert",
		"image": {"path": "/data/vm.vmdk"}}`), "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Svc.Submit(ctx, spec, true); err != nil {
		b.Fatal(err)
	}
	w := domain.Worker{WorkerID: "w", Capabilities: domain.Capabilities{QemuImg: true}}
	claim, err := st.Svc.Claim(ctx, w, domain.Dispatch{JobID: "bench"})
	if err != nil || claim.Verdict != service.Claimed {
		b.Fatalf("claim: %v %v", claim.Verdict, err)
	}
	resp, err := http.Get(srv.URL + "/jobs/bench/events/stream")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	rd := client.NewSSEReader(resp.Body)
	samples := measure(b, st.Svc, claim.Lease.Token, rd)
	slices.Sort(samples)
	p := func(q float64) float64 {
		return float64(samples[int(q*float64(len(samples)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.5), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

func measure(b *testing.B, svc *service.Service, token string,
	rd *client.SSEReader) []time.Duration {
	ctx := context.Background()
	var samples []time.Duration
	n := max(b.N, 50)
	b.ResetTimer()
	for i := 0; i < n; i++ {
		pct := float64(i%100) / 2
		start := time.Now()
		ev, _, err := svc.ReportEvent(ctx, "bench", token, domain.EventReport{
			Phase: domain.PhaseConversion, ProgressPercent: &pct, Message: fmt.Sprint(i)})
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, rd, ev.Seq)
		samples = append(samples, time.Since(start))
		// Idle gaps of varying length, as between real progress reports.
		time.Sleep(time.Duration(i%7) * 50 * time.Millisecond)
	}
	return samples
}

func waitFor(b *testing.B, rd *client.SSEReader, seq int64) {
	want := fmt.Sprint(seq)
	for {
		ev, err := rd.Next()
		if err != nil {
			b.Fatalf("stream: %v", err)
		}
		if ev.ID == want && ev.Event == "progress" {
			return
		}
	}
}
