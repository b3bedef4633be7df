package lambdaglue_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hyper2kvm/controlplane/shared/lambdaglue"
)

// testMux is a tiny stand-in for the real API: enough routes to see path parameters, query
// strings, bodies, status codes and headers cross the adapter.
func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Seen", "one")
		w.Header().Add("X-Seen", "two")
		fmt.Fprintf(w, `{"id":%q,"verbose":%q,"key":%q}`,
			r.PathValue("id"), r.URL.Query().Get("verbose"), r.Header.Get("X-Api-Key"))
	})
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/jobs/x")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body)
	})
	mux.HandleFunc("DELETE /jobs/{id}", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("GET /blob", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte{0xff, 0xfe, 0x00, 0x01})
	})
	return mux
}

func TestProxyRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		req        events.APIGatewayProxyRequest
		wantStatus int
		wantBody   string
		wantBase64 bool
		wantHeader map[string][]string
	}{
		{
			name: "path parameter, query and request header",
			req: apiEvent("GET", "/jobs/{id}", "/jobs/convert-vm-123",
				map[string]string{"verbose": "1"}, ""),
			wantStatus: http.StatusOK,
			wantBody:   `{"id":"convert-vm-123","verbose":"1","key":"test-key"}`,
			wantHeader: map[string][]string{
				"Content-Type": {"application/json"}, "X-Seen": {"one", "two"},
			},
		},
		{
			name:       "body in, status and header out",
			req:        apiEvent("POST", "/jobs", "/jobs", nil, `{"job_id":"a"}`),
			wantStatus: http.StatusCreated,
			wantBody:   `{"job_id":"a"}`,
			wantHeader: map[string][]string{"Location": {"/jobs/x"}},
		},
		{
			name:       "base64 request body is decoded",
			req:        base64Event(apiEvent("POST", "/jobs", "/jobs", nil, `{"job_id":"b"}`)),
			wantStatus: http.StatusCreated,
			wantBody:   `{"job_id":"b"}`,
		},
		{
			name:       "handler that writes nothing answers 200",
			req:        apiEvent("DELETE", "/jobs/{id}", "/jobs/convert-vm-123", nil, ""),
			wantStatus: http.StatusOK,
		},
		{
			name:       "binary body goes out base64",
			req:        apiEvent("GET", "/blob", "/blob", nil, ""),
			wantStatus: http.StatusOK,
			wantBody:   base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 0x00, 0x01}),
			wantBase64: true,
		},
		{
			name:       "unknown route",
			req:        apiEvent("GET", "/nothing", "/nothing", nil, ""),
			wantStatus: http.StatusNotFound,
		},
		{
			name:       "wrong method",
			req:        apiEvent("PUT", "/jobs", "/jobs", nil, ""),
			wantStatus: http.StatusMethodNotAllowed,
			wantHeader: map[string][]string{"Allow": {"POST"}},
		},
	}
	handle := lambdaglue.Proxy(testMux())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := handle(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Proxy: %v", err)
			}
			if got.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", got.StatusCode, tt.wantStatus)
			}
			if tt.wantBody != "" && got.Body != tt.wantBody {
				t.Errorf("body = %q, want %q", got.Body, tt.wantBody)
			}
			if got.IsBase64Encoded != tt.wantBase64 {
				t.Errorf("isBase64Encoded = %v, want %v", got.IsBase64Encoded, tt.wantBase64)
			}
			for k, want := range tt.wantHeader {
				if g := got.MultiValueHeaders[k]; strings.Join(g, "|") != strings.Join(want, "|") {
					t.Errorf("header %s = %q, want %q", k, g, want)
				}
			}
		})
	}
}

// TestProxySAMEvents pushes every API event of events/ through Proxy into a mux that has
// the event's own resource as its pattern: method, path and path parameters must arrive.
func TestProxySAMEvents(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	for _, file := range files {
		ev, ok := readAPIEvent(t, file)
		if !ok {
			continue
		}
		seen++
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			checkEventRoutes(t, ev)
		})
	}
	if seen == 0 {
		t.Fatal("no API Gateway events found under events/")
	}
}

func checkEventRoutes(t *testing.T, ev events.APIGatewayProxyRequest) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc(ev.HTTPMethod+" "+ev.Resource, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s id=%s body=%d", r.Method, r.URL.Path, r.PathValue("id"), len(body))
	})
	got, err := lambdaglue.Proxy(mux)(context.Background(), ev)
	if err != nil {
		t.Fatalf("Proxy: %v", err)
	}
	want := fmt.Sprintf("%s %s id=%s body=%d",
		ev.HTTPMethod, ev.Path, ev.PathParameters["id"], len(ev.Body))
	if got.StatusCode != http.StatusOK || got.Body != want {
		t.Errorf("got %d %q, want 200 %q", got.StatusCode, got.Body, want)
	}
}

// readAPIEvent decodes file as a REST proxy event; other event kinds report false.
func readAPIEvent(t *testing.T, file string) (events.APIGatewayProxyRequest, bool) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return ev, ev.HTTPMethod != ""
}

// apiEvent builds a REST proxy event the way API Gateway sends it.
func apiEvent(method, resource, path string, query map[string]string, body string,
) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{
		Resource:              resource,
		Path:                  path,
		HTTPMethod:            method,
		Headers:               map[string]string{"x-api-key": "test-key"},
		QueryStringParameters: query,
		Body:                  body,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID: "gw-req-1", Stage: "v1", DomainName: "api.example.test",
			ResourcePath: resource, HTTPMethod: method,
		},
	}
	if strings.Contains(resource, "{id}") {
		ev.PathParameters = map[string]string{"id": path[strings.LastIndex(path, "/")+1:]}
	}
	return ev
}

func base64Event(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
	ev.Body = base64.StdEncoding.EncodeToString([]byte(ev.Body))
	ev.IsBase64Encoded = true
	return ev
}
