package lambdaglue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/hyper2kvm/controlplane/shared/lambdaglue"
)

// sseHandler is a tiny Server-Sent Events handler: it sends its header, then one event per
// value received on next, flushing each, until next is closed or its context ends.
type sseHandler struct {
	next    chan string
	stopped chan error // the handler's context error when it returned
}

func newSSEHandler() *sseHandler {
	return &sseHandler{next: make(chan string), stopped: make(chan error, 1)}
}

func (h *sseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() { h.stopped <- r.Context().Err() }()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		panic(err) // the writer must be a Flusher
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case data, ok := <-h.next:
			if !ok {
				return
			}
			if _, err := io.WriteString(w, "data: "+data+"\n\n"); err != nil {
				return
			}
			_ = rc.Flush()
		}
	}
}

func streamEvent() events.APIGatewayProxyRequest {
	return apiEvent("GET", "/jobs/{id}/events/stream", "/jobs/convert-vm-123/events/stream",
		nil, "")
}

// startStream invokes Stream(h) and makes sure the body is closed when the test ends.
func startStream(ctx context.Context, t *testing.T, h http.Handler,
) *events.APIGatewayProxyStreamingResponse {
	t.Helper()
	resp, err := lambdaglue.Stream(h)(ctx, streamEvent())
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	t.Cleanup(func() { _ = resp.Close() })
	return resp
}

func TestStreamHeadersThenChunksInOrder(t *testing.T) {
	t.Parallel()
	h := newSSEHandler()
	resp := startStream(context.Background(), t, h)

	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if got := resp.MultiValueHeaders["Content-Type"]; len(got) != 1 ||
		got[0] != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", got)
	}
	// Each chunk must be readable before the handler produces the next one.
	for _, data := range []string{"one", "two", "three"} {
		h.next <- data
		want := "data: " + data + "\n\n"
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatalf("read %q: %v", data, err)
		}
		if string(buf) != want {
			t.Fatalf("chunk = %q, want %q", buf, want)
		}
	}
	close(h.next)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after the handler returned: %q, %v; want EOF", rest, err)
	}
	if err := <-h.stopped; err != nil {
		t.Errorf("handler context: %v, want still live when it returned", err)
	}
}

func TestStreamContextCancelEndsHandler(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := newSSEHandler()
	resp := startStream(ctx, t, h)
	cancel()
	if err := <-h.stopped; !errors.Is(err, context.Canceled) {
		t.Errorf("handler context error = %v, want context.Canceled", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("body after cancel: %v, want EOF", err)
	}
}

func TestStreamCloseStopsHandler(t *testing.T) {
	t.Parallel()
	h := newSSEHandler()
	resp, err := lambdaglue.Stream(h)(context.Background(), streamEvent())
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	// The runtime closes the response when the client goes away; Close waits for h.
	if err := resp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-h.stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler context error = %v, want context.Canceled", err)
		}
	default:
		t.Fatal("Close returned before the handler did")
	}
}

func TestStreamCarriesDeadlineAndRequestIDs(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "req-9"})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := r.Context().Deadline()
		lc, _ := lambdacontext.FromContext(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]any{
			"deadline_ok": ok && got.Equal(deadline), "request_id": lc.AwsRequestID,
			"path": r.URL.Path,
		})
	})
	resp := startStream(ctx, t, h)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"deadline_ok":true,"path":"/jobs/convert-vm-123/events/stream",` +
		`"request_id":"req-9"}`
	if strings.TrimSpace(string(body)) != want {
		t.Errorf("body = %s, want %s", body, want)
	}
}

func TestStreamHeaderCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantStatus  int
		wantType    string
		wantBody    string
		wantBodyErr error
	}{
		{
			name:       "nothing written",
			handler:    func(http.ResponseWriter, *http.Request) {},
			wantStatus: http.StatusOK,
		},
		{
			name: "status without body",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusNotFound)
			},
			wantStatus: http.StatusNotFound,
		},
		{
			name: "first write commits 200 and sniffs the type",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "<html>hi</html>")
			},
			wantStatus: http.StatusOK,
			wantType:   "text/html; charset=utf-8",
			wantBody:   "<html>hi</html>",
		},
		{
			name: "headers changed after commit are not sent",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusAccepted)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTeapot)
			},
			wantStatus: http.StatusAccepted,
			wantType:   "text/plain",
		},
		{
			name: "panic after the header cuts the body with an error",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "partial")
				panic("boom")
			},
			wantStatus:  http.StatusOK,
			wantType:    "text/plain; charset=utf-8",
			wantBody:    "partial",
			wantBodyErr: lambdaglue.ErrHandlerPanic,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := startStream(context.Background(), t, tt.handler)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := strings.Join(resp.MultiValueHeaders["Content-Type"], ","); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			body, err := io.ReadAll(resp.Body)
			if string(body) != tt.wantBody || !errors.Is(err, tt.wantBodyErr) {
				t.Errorf("body = %q, %v; want %q, %v", body, err, tt.wantBody, tt.wantBodyErr)
			}
		})
	}
}

func TestStreamPanicBeforeHeaderFailsInvocation(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("early") })
	resp, err := lambdaglue.Stream(h)(context.Background(), streamEvent())
	if !errors.Is(err, lambdaglue.ErrHandlerPanic) || resp != nil {
		t.Fatalf("Stream = %v, %v; want nil, ErrHandlerPanic", resp, err)
	}
}

// TestStreamWireFormat reads the response the way the runtime does: as an io.Reader giving
// the JSON prelude, eight NUL bytes, then the body.
func TestStreamWireFormat(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, ": keep-alive\n\n")
	})
	resp := startStream(context.Background(), t, h)
	raw, err := io.ReadAll(resp)
	if err != nil {
		t.Fatal(err)
	}
	prelude, body, ok := bytes.Cut(raw, make([]byte, 8))
	if !ok {
		t.Fatalf("no 8-NUL separator in %q", raw)
	}
	var got struct {
		StatusCode        int                 `json:"statusCode"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	}
	if err := json.Unmarshal(prelude, &got); err != nil {
		t.Fatalf("prelude %q: %v", prelude, err)
	}
	if got.StatusCode != 200 || got.MultiValueHeaders["Content-Type"][0] != "text/event-stream" {
		t.Errorf("prelude = %+v", got)
	}
	if string(body) != ": keep-alive\n\n" {
		t.Errorf("body = %q", body)
	}
}

func TestStreamBadEvent(t *testing.T) {
	t.Parallel()
	ev := streamEvent()
	ev.Body, ev.IsBase64Encoded = "%%% not base64", true
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("handler ran for an undecodable event")
	})
	if _, err := lambdaglue.Stream(h)(context.Background(), ev); err == nil {
		t.Fatal("Stream accepted an undecodable body")
	}
}
