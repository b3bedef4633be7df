package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
)

type eventPage struct {
	JobID  string `json:"job_id"`
	Events []struct {
		Seq        int64   `json:"seq"`
		Timestamp  string  `json:"timestamp"`
		Percent    float64 `json:"progress_percent"`
		Percentage float64 `json:"percentage"`
	} `json:"events"`
	Count     int   `json:"count"`
	NextAfter int64 `json:"next_after"`
}

func (p eventPage) seqs() []int64 {
	out := []int64{}
	for _, ev := range p.Events {
		out = append(out, ev.Seq)
	}
	return out
}

func (f *fixture) events(query string) eventPage {
	f.t.Helper()
	var p eventPage
	f.call("GET", "/jobs/convert-vm-123/events"+query, "").expect(f.t, http.StatusOK, &p)
	if p.Count != len(p.Events) || p.JobID != "convert-vm-123" {
		f.t.Errorf("%s: count %d for %d events of %q", query, p.Count, len(p.Events), p.JobID)
	}
	return p
}

func TestPollEvents(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.runJob("", 10, 20, 30)
	all := f.events("")
	if got := all.seqs(); !slices.Equal(got, []int64{1, 2, 3, 4}) || all.NextAfter != 4 {
		t.Fatalf("all: got %v next_after %d, want [1 2 3 4] 4", got, all.NextAfter)
	}
	for _, ev := range all.Events {
		wantUTC(t, "event timestamp", ev.Timestamp)
		if ev.Percent != ev.Percentage {
			t.Errorf("seq %d: progress_percent %v, percentage %v, want equal", ev.Seq,
				ev.Percent, ev.Percentage)
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, all.Events[2].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	z := url.QueryEscape(ts.Format(time.RFC3339Nano))
	plus2 := url.QueryEscape(ts.In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano))
	cases := []struct {
		query string
		want  []int64
		next  int64
	}{
		{"?after=1&limit=2", []int64{2, 3}, 3},
		{"?after=3", []int64{4}, 4},
		{"?after=4", []int64{}, 4},
		{"?since=" + z, []int64{3, 4}, 4},
		{"?since=" + plus2, []int64{3, 4}, 4},
		{"?after=3&since=" + plus2, []int64{4}, 4},
		{"?since=2000-01-01T00:00:00Z&limit=1", []int64{1}, 1},
	}
	for _, c := range cases {
		p := f.events(c.query)
		if got := p.seqs(); !slices.Equal(got, c.want) || p.NextAfter != c.next {
			t.Errorf("%s: got %v next_after %d, want %v %d", c.query, got, p.NextAfter,
				c.want, c.next)
		}
	}
}

func TestPollEventsBadParameters(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(exampleJob, true)
	path := "/jobs/convert-vm-123/events"
	for q, field := range map[string]string{
		"after=-1": "after", "after=x": "after", "limit=0": "limit", "limit=1001": "limit",
		"since=yesterday": "since", "since=2026-01-02": "since",
		"since=2026-01-02T15:04:05": "since", "cursor=3": "cursor",
	} {
		f.call("GET", path+"?"+q, "").wantError(t, http.StatusBadRequest, "validation_failed",
			path).wantField(t, field)
	}
	f.call("GET", "/jobs/convert-vm-999/events", "").wantError(t, http.StatusNotFound,
		"not_found", "/jobs/convert-vm-999/events")
}
