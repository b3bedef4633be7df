package template

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
)

// The protocol's own examples, which the SAM events must carry verbatim.
const (
	submitExample = `{"job_id": "convert-vm-123", "operation": "convert", "image": ` +
		`{"path": "/data/vm.vmdk", "format": "vmdk"}, "parameters": {"output_format": "qcow2"}}`
	registerExample = `{"worker_id": "worker-1", "capabilities": ["nbd_access", ` +
		`"lvm_tools", "qemu_img"], "execution_mode": "PRIVILEGED_CONTAINER"}`
)

// TestEventFiles: events/ holds one file per function, named after its folder, and each
// decodes strictly as the event type its function receives.
func TestEventFiles(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	folders := map[string]functionProps{}
	for _, fn := range tpl.functions(t) {
		if m := codeURIRe.FindStringSubmatch(fn.CodeUri); m != nil {
			folders[m[1]] = fn
		}
	}
	files, err := filepath.Glob(repoFile("events/*.json"))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		have[name] = true
		fn, ok := folders[name]
		if !ok {
			t.Errorf("%s names no function (no CodeUri functions/%s/)", file, name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checkEventFile(t, file, name, fn)
		})
	}
	for name := range folders {
		if !have[name] {
			t.Errorf("function %s has no events/%s.json", functionID(name), name)
		}
	}
}

func checkEventFile(t *testing.T, file, name string, fn functionProps) {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, ev := range fn.Events {
		kinds[ev.Type] = true
	}
	switch {
	case kinds["Api"]:
		checkAPIEvent(t, raw, routeNamed(t, name))
	case kinds["SQS"]:
		checkSQSEvent(t, raw)
	case kinds["Schedule"]:
		checkScheduledEvent(t, raw)
	default:
		t.Fatalf("function %s has no event type this test knows: %v", name, kinds)
	}
}

func routeNamed(t *testing.T, name string) httpapi.Route {
	t.Helper()
	for _, rt := range httpapi.Routes {
		if rt.Name == name {
			return rt
		}
	}
	t.Fatalf("no route %s in httpapi.Routes", name)
	return httpapi.Route{}
}

// strictDecode refuses unknown fields, so a misspelt key in an event file fails here
// instead of arriving empty in the handler. encoding/json matches names without regard to
// case, so the keys are also compared exactly with those of v encoded again.
func strictDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode as %T: %v", v, err)
	}
	if dec.More() {
		t.Fatalf("trailing data after the event")
	}
	var given, again any
	encoded, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if json.Unmarshal(raw, &given) != nil || json.Unmarshal(encoded, &again) != nil {
		t.Fatal("event does not survive a JSON round trip")
	}
	checkKeys(t, "", given, again)
}

// checkKeys reports keys of given that again, the decoded event encoded anew, spells
// differently. Zero values may be missing from again: their fields are omitempty.
func checkKeys(t *testing.T, path string, given, again any) {
	t.Helper()
	switch g := given.(type) {
	case map[string]any:
		a, _ := again.(map[string]any)
		for k, v := range g {
			av, ok := a[k]
			if !ok && !isZeroJSON(v) {
				t.Errorf("%s.%s is no field of the event (check spelling and case)", path, k)
			}
			checkKeys(t, path+"."+k, v, av)
		}
	case []any:
		a, _ := again.([]any)
		for i := range min(len(g), len(a)) {
			checkKeys(t, fmt.Sprintf("%s[%d]", path, i), g[i], a[i])
		}
	}
}

func isZeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case float64:
		return v == 0
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

func checkAPIEvent(t *testing.T, raw []byte, rt httpapi.Route) {
	var ev events.APIGatewayProxyRequest
	strictDecode(t, raw, &ev)
	rc := ev.RequestContext
	if ev.HTTPMethod != rt.Method || ev.Resource != rt.Path ||
		rc.HTTPMethod != rt.Method || rc.ResourcePath != rt.Path {
		t.Errorf("event is %s %s (context %s %s), want %s %s",
			ev.HTTPMethod, ev.Resource, rc.HTTPMethod, rc.ResourcePath, rt.Method, rt.Path)
	}
	checkPath(t, rt.Path, ev.Path, ev.PathParameters)
	if rc.RequestID == "" || rc.Stage == "" || rc.Identity.SourceIP == "" {
		t.Errorf("requestContext lacks requestId, stage or identity.sourceIp: %+v", rc)
	}
	if ev.IsBase64Encoded {
		t.Error("isBase64Encoded is true; the API takes JSON text")
	}
	if ev.Body != "" && !json.Valid([]byte(ev.Body)) {
		t.Errorf("body is not JSON: %s", ev.Body)
	}
	checkCredentials(t, rt, ev.Headers)
	checkExamples(t, rt, ev)
}

// checkPath matches a concrete path against a route template such as /jobs/{id}.
func checkPath(t *testing.T, tmpl, path string, params map[string]string) {
	t.Helper()
	want, got := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		t.Fatalf("path %s does not fit %s", path, tmpl)
	}
	var placeholders int
	for i, seg := range want {
		name, isParam := strings.CutPrefix(seg, "{")
		if !isParam {
			if got[i] != seg {
				t.Errorf("path %s does not fit %s", path, tmpl)
			}
			continue
		}
		placeholders++
		name = strings.TrimSuffix(name, "}")
		if got[i] == "" || params[name] != got[i] {
			t.Errorf("pathParameters[%s] = %q, path segment %q", name, params[name], got[i])
		}
	}
	if len(params) != placeholders {
		t.Errorf("pathParameters = %v, want %d entries", params, placeholders)
	}
}

// checkCredentials: each event carries what the gateway let through for its role.
func checkCredentials(t *testing.T, rt httpapi.Route, h map[string]string) {
	t.Helper()
	switch {
	case rt.Role == "worker":
		if !strings.HasPrefix(h["Authorization"], "AWS4-HMAC-SHA256 ") {
			t.Error("worker route event lacks a SigV4 Authorization header")
		}
	case rt.Stream:
		// Opened by the signed token of stream_url, which checkExamples looks for.
	case rt.Role == "client":
		if h["x-api-key"] == "" {
			t.Error("client route event lacks the x-api-key header")
		}
	case rt.Role == "metrics":
		if !strings.HasPrefix(h["Authorization"], "Bearer ") {
			t.Error("metrics event lacks the scrape bearer token")
		}
	}
}

func checkExamples(t *testing.T, rt httpapi.Route, ev events.APIGatewayProxyRequest) {
	t.Helper()
	want := map[string]string{"submit-job": submitExample, "register-worker": registerExample}
	if body, ok := want[rt.Name]; ok && ev.Body != body {
		t.Errorf("body = %s, want the protocol's example %s", ev.Body, body)
	}
	if rt.Name == "submit-job" && ev.QueryStringParameters["queue"] != "true" {
		t.Error("submit-job event lacks ?queue=true")
	}
	if rt.Stream && ev.QueryStringParameters["access_token"] == "" {
		t.Error("stream event lacks the access_token of stream_url")
	}
	if id := ev.PathParameters["id"]; strings.HasPrefix(rt.Path, "/jobs/{id}") &&
		id != "convert-vm-123" {
		t.Errorf("job id = %q, want the protocol's convert-vm-123", id)
	}
}

func checkSQSEvent(t *testing.T, raw []byte) {
	var ev events.SQSEvent
	strictDecode(t, raw, &ev)
	if len(ev.Records) == 0 {
		t.Fatal("no records")
	}
	for _, r := range ev.Records {
		if r.EventSource != "aws:sqs" || !strings.HasPrefix(r.EventSourceARN, "arn:aws:sqs:") ||
			!strings.Contains(r.EventSourceARN, "DeadLetterQueue") {
			t.Errorf("record from %s %s, want aws:sqs from a dead-letter queue",
				r.EventSource, r.EventSourceARN)
		}
		sum := md5.Sum([]byte(r.Body))
		if hex.EncodeToString(sum[:]) != r.Md5OfBody {
			t.Errorf("md5OfBody %s does not match the body", r.Md5OfBody)
		}
		var msg struct {
			JobID   string `json:"job_id"`
			Attempt int    `json:"attempt"`
		}
		strictDecode(t, []byte(r.Body), &msg)
		if msg.JobID == "" || msg.Attempt < 1 {
			t.Errorf("message body %s, want a job_id and attempt >= 1", r.Body)
		}
	}
}

func checkScheduledEvent(t *testing.T, raw []byte) {
	var ev events.EventBridgeEvent
	strictDecode(t, raw, &ev)
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" {
		t.Errorf("event is %q from %q, want a Scheduled Event from aws.events",
			ev.DetailType, ev.Source)
	}
	if len(ev.Resources) != 1 || !strings.HasPrefix(ev.Resources[0], "arn:aws:events:") {
		t.Errorf("resources = %v, want the schedule rule's ARN", ev.Resources)
	}
}
