package httpapi_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// envelope is the body of every error answer.
type envelope struct {
	Code      int          `json:"code"`
	Type      string       `json:"type"`
	Message   string       `json:"message"`
	Path      string       `json:"path"`
	Timestamp string       `json:"timestamp"`
	Fields    []fieldError `json:"fields"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

var envelopeKeys = []string{"code", "type", "message", "path", "timestamp", "fields"}

// wantError checks that r is the error envelope with the status, type and path, and
// returns it. It checks the shape strictly: one "error" key, only the known fields, all
// required ones present, the timestamp RFC 3339 in UTC with Z and recent.
func (r reply) wantError(t *testing.T, status int, kind, path string) envelope {
	t.Helper()
	if r.status != status {
		t.Fatalf("status: got %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type: got %q, want application/json; body %q", ct, r.body)
	}
	var top map[string]map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil || len(top) != 1 || top["error"] == nil {
		t.Fatalf("body: got %s, want {\"error\": {...}} (%v)", r.body, err)
	}
	for k := range top["error"] {
		if !slices.Contains(envelopeKeys, k) {
			t.Errorf("envelope has unknown key %q: %s", k, r.body)
		}
	}
	for _, k := range envelopeKeys[:5] {
		if _, ok := top["error"][k]; !ok {
			t.Errorf("envelope lacks %q: %s", k, r.body)
		}
	}
	var env struct{ Error envelope }
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("decode envelope %s: %v", r.body, err)
	}
	e := env.Error
	checkEnvelope(t, e, status, kind, path)
	return e
}

func checkEnvelope(t *testing.T, e envelope, status int, kind, path string) {
	t.Helper()
	if e.Code != status {
		t.Errorf("error.code: got %d, want %d", e.Code, status)
	}
	if e.Type != kind {
		t.Errorf("error.type: got %q, want %q (message %q)", e.Type, kind, e.Message)
	}
	if e.Path != path {
		t.Errorf("error.path: got %q, want %q", e.Path, path)
	}
	if e.Message == "" {
		t.Error("error.message: got empty, want a message")
	}
	at := wantUTC(t, "error.timestamp", e.Timestamp)
	if d := time.Since(at); d < -time.Minute || d > time.Minute {
		t.Errorf("error.timestamp: got %s, want about now", e.Timestamp)
	}
	for _, f := range e.Fields {
		if f.Field == "" || f.Message == "" {
			t.Errorf("error.fields: got %+v, want field and message set", f)
		}
	}
}

// wantField fails unless the envelope names field among its fields.
func (e envelope) wantField(t *testing.T, field string) {
	t.Helper()
	for _, f := range e.Fields {
		if f.Field == field {
			return
		}
	}
	t.Errorf("error.fields: got %+v, want one naming %q", e.Fields, field)
}
