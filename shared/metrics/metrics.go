// Package metrics renders the service's numbers as Prometheus metrics (all prefixed
// hyper2kvm_) for GET /metrics. Values are read at scrape time from the store's counters
// and index counts, so any number of API instances report the same totals.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hyper2kvm/controlplane/shared/service"
)

// Source gives the numbers; *service.Service is one.
type Source interface {
	Snapshot(ctx context.Context) (service.Snapshot, error)
}

// Handler serves a scrape.
func Handler(src Source, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{src: src, log: log})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("hyper2kvm_"+name, help, labels, nil)
}

var (
	descTotal = desc("migration_total", "Jobs that reached a terminal state.",
		"operation", "status")
	descFailures = desc("migration_failures_total", "Failed jobs by result code.",
		"operation", "error_type")
	descDuration = desc("migration_duration_seconds",
		"Run time of finished jobs, from claim to end.")
	descActive = desc("worker_jobs_active", "Jobs a worker reported holding.", "worker_id")
	descInfo   = desc("worker_info", "Registered workers.", "worker_id", "hostname",
		"execution_mode", "status")
	descQueue   = desc("queue_depth", "Visible queue messages by priority band.", "priority")
	descJobs    = desc("jobs", "Jobs by state.", "state")
	descWorkers = desc("workers", "Workers by status.", "status")
	descDead    = desc("dead_letter_messages", "Messages in the dead-letter queues.")
	descUp      = desc("up", "1 if the scrape could read the store and the queue.")
)

type collector struct {
	src Source
	log *slog.Logger
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTotal, descFailures, descDuration, descActive,
		descInfo, descQueue, descJobs, descWorkers, descDead, descUp} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := c.src.Snapshot(ctx)
	if err != nil {
		c.log.ErrorContext(ctx, "metrics snapshot", "error", err)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	collectCounters(ch, snap)
	collectGauges(ch, snap)
}

func collectCounters(ch chan<- prometheus.Metric, s service.Snapshot) {
	for k, v := range s.Counters.Total {
		ch <- prometheus.MustNewConstMetric(descTotal, prometheus.CounterValue, v, k[0], k[1])
	}
	for k, v := range s.Counters.Failures {
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, v, k[0], k[1])
	}
	buckets := map[float64]uint64{}
	bounds := make([]float64, 0, len(s.Counters.Buckets))
	for b := range s.Counters.Buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	for _, b := range bounds {
		buckets[b] = uint64(s.Counters.Buckets[b])
	}
	ch <- prometheus.MustNewConstHistogram(descDuration, uint64(s.Counters.DurationCount),
		s.Counters.DurationSum, buckets)
}

func collectGauges(ch chan<- prometheus.Metric, s service.Snapshot) {
	for st, n := range s.Jobs {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(n), string(st))
	}
	status := map[string]float64{"alive": 0, "stale": 0}
	for _, w := range s.Workers {
		status[w.Status]++
		ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, w.WorkerID,
			w.Hostname, string(w.ExecutionMode), w.Status)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue,
			float64(w.ActiveJobs), w.WorkerID)
	}
	for st, n := range status {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, n, st)
	}
	band := map[string]float64{}
	dead := 0.0
	for k, n := range s.Queue.Visible {
		band[string(k.Band)] += float64(n)
	}
	for _, n := range s.Queue.DeadLetter {
		dead += float64(n)
	}
	for b, n := range band {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, n, b)
	}
	ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, dead)
}
