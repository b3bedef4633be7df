package httpapi_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/client"
	"github.com/hyper2kvm/controlplane/shared/domain"
	"github.com/hyper2kvm/controlplane/shared/httpapi"
)

const streamPath = "/jobs/convert-vm-123/events/stream"

// progressData is the data of a progress event, with both percentage names.
type progressData struct {
	JobID           string   `json:"job_id"`
	Seq             int64    `json:"seq"`
	Phase           string   `json:"phase"`
	ProgressPercent *float64 `json:"progress_percent"`
	Percentage      *float64 `json:"percentage"`
}

// wantProgress checks one progress event and returns its seq.
func wantProgress(t *testing.T, ev client.SSEEvent, pct float64) int64 {
	t.Helper()
	if ev.Event != "progress" {
		t.Fatalf("event: got %q (data %s), want progress", ev.Event, ev.Data)
	}
	var p progressData
	if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
		t.Fatalf("progress data %q: %v", ev.Data, err)
	}
	if p.ProgressPercent == nil || p.Percentage == nil {
		t.Fatalf("data: got %s, want progress_percent and percentage", ev.Data)
	}
	if *p.ProgressPercent != pct || *p.Percentage != pct {
		t.Errorf("percent: got %v / %v, want %v for both", *p.ProgressPercent, *p.Percentage, pct)
	}
	if ev.ID != strconv.FormatInt(p.Seq, 10) || p.JobID != "convert-vm-123" {
		t.Errorf("id: got %q for seq %d of %s, want id = seq", ev.ID, p.Seq, p.JobID)
	}
	return p.Seq
}

// wantComplete checks the closing event, and that the stream ends after it.
func wantComplete(t *testing.T, rd *client.SSEReader, state string) client.Summary {
	t.Helper()
	ev := next(t, rd)
	if ev.Event != "complete" {
		t.Fatalf("event: got %q (data %s), want complete", ev.Event, ev.Data)
	}
	var s client.Summary
	if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
		t.Fatalf("complete data %q: %v", ev.Data, err)
	}
	if s.State != state || s.JobID != "convert-vm-123" {
		t.Errorf("complete: got %s %s, want convert-vm-123 %s", s.JobID, s.State, state)
	}
	if ev, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after complete: got %+v, %v, want the stream closed", ev, err)
	}
	return s
}

func TestStreamLive(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(exampleJob, true)
	l := f.claim()
	resp, rd := f.stream(streamPath)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type: got %q, want text/event-stream", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
		t.Errorf("Cache-Control: got %q, want no-cache", cc)
	}
	if ev := next(t, rd); ev.Retry <= 0 {
		t.Errorf("first frame: got %+v, want a retry: field", ev)
	}
	var seqs []int64
	for _, step := range [][2]float64{{10, 10}, {5, 10}, {50, 50}} {
		f.progress(l, step[0])
		seqs = append(seqs, wantProgress(t, next(t, rd), step[1]))
	}
	f.end(l, "")
	seqs = append(seqs, wantProgress(t, next(t, rd), 100))
	if !slices.Equal(seqs, []int64{1, 2, 3, 4}) {
		t.Errorf("seqs: got %v, want [1 2 3 4]", seqs)
	}
	s := wantComplete(t, rd, "COMPLETED")
	if !strings.Contains(string(s.Result), "fixed_image") {
		t.Errorf("complete result: got %s, want the outputs", s.Result)
	}
}

func TestStreamResumesAfterLastEventID(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.runJob("", 10, 20, 30, 40, 50)
	for _, after := range []int{0, 2, 5, 6} {
		name := "Last-Event-ID " + strconv.Itoa(after)
		headers := []string{"Last-Event-ID", strconv.Itoa(after)}
		path := streamPath
		if after == 5 {
			name, headers, path = "last_event_id 5", nil, streamPath+"?last_event_id=5"
		}
		_, rd := f.stream(path, headers...)
		next(t, rd) // retry:
		var got, want []int64
		for seq := after + 1; seq <= 6; seq++ {
			pct := []float64{0, 10, 20, 30, 40, 50, 100}[seq]
			got = append(got, wantProgress(t, next(t, rd), pct))
			want = append(want, int64(seq))
		}
		wantComplete(t, rd, "COMPLETED")
		if !slices.Equal(got, want) {
			t.Errorf("%s: got seqs %v, want %v", name, got, want)
		}
	}
}

func TestStreamEndsWithCompleteForFailedAndCancelled(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.runJob(domain.CodeInputNotFound, 30)
	_, rd := f.stream(streamPath)
	next(t, rd)
	wantProgress(t, next(t, rd), 30)
	ev := next(t, rd)
	var p progressData
	_ = json.Unmarshal([]byte(ev.Data), &p)
	if ev.Event != "progress" || p.Phase != "failed" || *p.ProgressPercent != 30 {
		t.Errorf("closing event: got %s %s, want progress phase failed at 30", ev.Event, ev.Data)
	}
	s := wantComplete(t, rd, "FAILED")
	if !strings.Contains(string(s.Result), `"INPUT_NOT_FOUND"`) {
		t.Errorf("complete result: got %s, want error code INPUT_NOT_FOUND", s.Result)
	}

	f.submit(specWith("other", "inspect", `"parameters": {}`), true)
	f.call("DELETE", "/jobs/other", "").expect(t, http.StatusOK, nil)
	_, rd = f.stream("/jobs/other/events/stream")
	next(t, rd)
	if ev := next(t, rd); ev.Event != "progress" || !strings.Contains(ev.Data, `"cancelled"`) {
		t.Errorf("cancelled job: got %s %s, want its cancelled event", ev.Event, ev.Data)
	}
	ev = next(t, rd)
	if ev.Event != "complete" || !strings.Contains(ev.Data, `"CANCELLED"`) {
		t.Errorf("cancelled job: got %s %s, want complete CANCELLED", ev.Event, ev.Data)
	}
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, httpapi.Options{})
	f.submit(exampleJob, true)
	for _, v := range []string{"abc", "-1", "1.5"} {
		f.call("GET", streamPath, "", "Last-Event-ID", v).wantError(t, http.StatusBadRequest,
			"validation_failed", streamPath).wantField(t, "Last-Event-ID")
	}
	f.call("GET", streamPath+"?last_event_id=x", "").wantError(t, http.StatusBadRequest,
		"validation_failed", streamPath).wantField(t, "last_event_id")
	f.call("GET", streamPath+"?after=1", "").wantError(t, http.StatusBadRequest,
		"validation_failed", streamPath).wantField(t, "after")
	e := f.call("GET", "/jobs/convert-vm-999/events/stream", "").wantError(t,
		http.StatusNotFound, "not_found", "/jobs/convert-vm-999/events/stream")
	if !strings.Contains(e.Message, "convert-vm-999") {
		t.Errorf("message: got %q, want the job named", e.Message)
	}
}
