package lambdaglue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/hyper2kvm/controlplane/shared/lambdaglue"
)

func TestWithRequestID(t *testing.T) {
	t.Parallel()
	lambdaCtx := lambdacontext.NewContext(context.Background(),
		&lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
	tests := []struct {
		name string
		ctx  context.Context
		want map[string]string
	}{
		{"plain context", context.Background(), map[string]string{}},
		{"invocation context", lambdaCtx, map[string]string{"request_id": "lambda-req-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			lambdaglue.WithRequestID(tt.ctx, log).Info("hello")
			checkIDs(t, buf.Bytes(), tt.want)
		})
	}
}

// TestWithRequestIDInHandler checks that a handler behind Proxy sees both ids.
func TestWithRequestIDInHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		lambdaglue.WithRequestID(r.Context(), log).Info("in handler")
	})
	ctx := lambdacontext.NewContext(context.Background(),
		&lambdacontext.LambdaContext{AwsRequestID: "lambda-req-2"})
	ev := apiEvent("GET", "/health", "/health", nil, "")
	if _, err := lambdaglue.Proxy(h)(ctx, ev); err != nil {
		t.Fatalf("Proxy: %v", err)
	}
	checkIDs(t, buf.Bytes(), map[string]string{
		"request_id": "lambda-req-2", "apigw_request_id": "gw-req-1",
	})
}

func checkIDs(t *testing.T, line []byte, want map[string]string) {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	for _, key := range []string{"request_id", "apigw_request_id"} {
		got, _ := rec[key].(string)
		if got != want[key] {
			t.Errorf("%s = %q, want %q", key, got, want[key])
		}
	}
}
