package browser

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// percentages are the progress reports the worker sends, rising.
var percentages = []float64{10, 35, 60, 85}

// TestExampleFollowsJobFromAllowedOrigin opens the example page on an allowed origin first and
// then drives the job, so every event reaches the browser live over the open stream.
func TestExampleFollowsJobFromAllowedOrigin(t *testing.T) {
	t.Parallel()
	f := setup(t)
	streamURL := f.submit()
	lease := f.claim()
	f.serve(streamURL)
	page := f.loading(f.allowed)
	f.waitForStream(origin(f.allowed), page)
	for _, p := range percentages {
		f.report(lease, p)
		time.Sleep(100 * time.Millisecond) // separate polls of the stream, not one batch
	}
	f.finish(lease)

	got, want := f.records(page), f.stored("COMPLETED")
	if !slices.Equal(got, want) {
		t.Errorf("page on the allowed origin received:\n%s\nwant:\n%s", lines(got), lines(want))
	}
	wantReports(t, want)
	reqs := f.seen.all()
	if len(reqs) == 0 {
		t.Fatal("the API saw no stream request")
	}
	for _, r := range reqs {
		wantEventSource(t, r, origin(f.allowed))
	}
}

// TestExampleRefusedFromOtherOrigin loads the example page for a finished job from both
// origins at once: the allowed one replays the whole job, the other one gets nothing but
// an error, although its request reached the API with the same signed URL.
func TestExampleRefusedFromOtherOrigin(t *testing.T) {
	t.Parallel()
	f := setup(t)
	streamURL := f.submit()
	lease := f.claim()
	for _, p := range percentages {
		f.report(lease, p)
	}
	f.finish(lease)
	f.serve(streamURL)
	allowedPage, otherPage := f.loading(f.allowed), f.loading(f.other)

	want := f.stored("COMPLETED")
	if got := f.records(allowedPage); !slices.Equal(got, want) {
		t.Errorf("page on the allowed origin received:\n%s\nwant:\n%s", lines(got), lines(want))
	}
	// One error, with the EventSource CLOSED: the browser refused the answer and gave up,
	// rather than losing a connection it would retry.
	wantRefused := []string{`["error",2]`}
	if got := f.records(otherPage); !slices.Equal(got, wantRefused) {
		t.Errorf("page on the other origin received:\n%s\nwant:\n%s", lines(got),
			lines(wantRefused))
	}
	reqs := f.seen.from(origin(f.other))
	if len(reqs) == 0 {
		t.Fatalf("the API saw no stream request from %s; it saw %+v", origin(f.other),
			f.seen.all())
	}
	for _, r := range reqs {
		wantEventSource(t, r, origin(f.other))
	}
	f.wantNoCORS(streamURL, origin(f.other))
}

// waitForStream waits until the API has seen the page's stream request from origin.
func (f *fixture) waitForStream(origin string, page <-chan loaded) {
	f.t.Helper()
	deadline := time.Now().Add(pageTimeout)
	for len(f.seen.from(origin)) == 0 {
		select {
		case l := <-page:
			f.t.Fatalf("the page ended before it opened the stream (%v):\n%s", l.err, l.dom)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no stream request from %s within %s", origin, pageTimeout)
		}
	}
}

// wantReports checks that the expected records start with the reports, in order, so that
// comparing with the stored events cannot pass on an empty or reordered store.
func wantReports(t *testing.T, want []string) {
	t.Helper()
	var reports []string
	for _, p := range percentages {
		reports = append(reports, jsonText([]any{p, message(p)}))
	}
	if len(want) < len(reports) || !slices.Equal(want[:len(reports)], reports) {
		t.Errorf("stored events:\n%s\nwant them to start with the reports:\n%s", lines(want),
			lines(reports))
	}
}

// wantEventSource checks that a stream request is the browser's EventSource on the signed
// stream_url from origin: a plain GET (no preflight), asking for text/event-stream.
func wantEventSource(t *testing.T, r request, origin string) {
	t.Helper()
	want := request{Method: http.MethodGet, Origin: origin, Accept: "text/event-stream",
		Signed: true}
	if r != want {
		t.Errorf("stream request: got %+v, want %+v", r, want)
	}
}

// wantNoCORS shows that the refusal is the browser's: the API answers the stream to origin
// like to anyone holding the URL, only without a CORS header admitting it.
func (f *fixture) wantNoCORS(streamURL, origin string) {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, streamURL, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	resp, err := f.api.Client().Do(req)
	if err != nil {
		f.t.Fatalf("GET stream_url: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body) // the job is finished, so the stream ends
	if err != nil {
		f.t.Fatalf("read stream: %v", err)
	}
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") ||
		!strings.Contains(string(body), "event: complete") {
		f.t.Errorf("stream from %s: got %d %q with body\n%s\nwant 200 text/event-stream "+
			"ending in complete", origin, resp.StatusCode, ct, body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		f.t.Errorf("Access-Control-Allow-Origin for %s: got %q, want none", origin, got)
	}
}

func lines(s []string) string { return "  " + strings.Join(s, "\n  ") }
