package template

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
)

// The two functions that serve no route.
const (
	sweeperName    = "sweeper"
	deadLetterName = "dead-letter"
)

// samTemplate is the part of template.yaml the tests read, with intrinsic functions in
// their JSON form ({"Ref": ...}, {"Fn::GetAtt": [...]}).
type samTemplate struct {
	Globals struct {
		Function functionProps
		Api      map[string]any
	}
	Resources map[string]resource
}

type resource struct {
	Type       string
	Metadata   map[string]any
	Properties json.RawMessage
}

type functionProps struct {
	CodeUri string
	Timeout int
	Events  map[string]eventSource
}

type eventSource struct {
	Type       string
	Properties json.RawMessage
}

type apiEventProps struct {
	Path                 string
	Method               string
	ResponseTransferMode string
}

var loadTemplate = sync.OnceValues(func() (*samTemplate, error) {
	raw, err := os.ReadFile(repoFile("template.yaml"))
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse template.yaml: %w", err)
	}
	v, err := cfnValue(&doc)
	if err != nil {
		return nil, fmt.Errorf("read template.yaml: %w", err)
	}
	var tpl samTemplate
	return &tpl, remarshal(v, &tpl)
})

func mustTemplate(t *testing.T) *samTemplate {
	t.Helper()
	tpl, err := loadTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// repoFile names a file at the repository root; tests run in tests/template.
func repoFile(name string) string { return filepath.Join("..", "..", name) }

func remarshal(v, out any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// functionID is the logical id of the function serving route or background job name:
// submit-job -> SubmitJobFunction.
func functionID(name string) string {
	var b strings.Builder
	for _, part := range strings.Split(name, "-") {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + "Function"
}

// function returns the properties of function id, failing the test when it is missing.
func (tpl *samTemplate) function(t *testing.T, id string) functionProps {
	t.Helper()
	res, ok := tpl.Resources[id]
	if !ok || res.Type != "AWS::Serverless::Function" {
		t.Fatalf("no AWS::Serverless::Function %s in template.yaml", id)
	}
	var fn functionProps
	if err := json.Unmarshal(res.Properties, &fn); err != nil {
		t.Fatalf("%s properties: %v", id, err)
	}
	return fn
}

// functions returns every AWS::Serverless::Function by logical id.
func (tpl *samTemplate) functions(t *testing.T) map[string]functionProps {
	t.Helper()
	out := map[string]functionProps{}
	for id, res := range tpl.Resources {
		if res.Type == "AWS::Serverless::Function" {
			out[id] = tpl.function(t, id)
		}
	}
	return out
}

// apiEvents returns fn's REST and HTTP API events.
func apiEvents(t *testing.T, fn functionProps) []apiEventProps {
	t.Helper()
	var out []apiEventProps
	for name, ev := range fn.Events {
		if ev.Type != "Api" && ev.Type != "HttpApi" {
			continue
		}
		var p apiEventProps
		if err := json.Unmarshal(ev.Properties, &p); err != nil {
			t.Fatalf("event %s: %v", name, err)
		}
		out = append(out, p)
	}
	return out
}

func TestEveryRouteHasOneFunction(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	for _, rt := range httpapi.Routes {
		t.Run(rt.Name, func(t *testing.T) {
			t.Parallel()
			id := functionID(rt.Name)
			fn := tpl.function(t, id)
			if want := "functions/" + rt.Name + "/"; fn.CodeUri != want {
				t.Errorf("%s CodeUri = %q, want %q", id, fn.CodeUri, want)
			}
			if got := tpl.Resources[id].Metadata["BuildMethod"]; got != "go1.x" {
				t.Errorf("%s Metadata.BuildMethod = %v, want go1.x", id, got)
			}
			evs := apiEvents(t, fn)
			if len(evs) != 1 || evs[0].Path != rt.Path || evs[0].Method != rt.Method {
				t.Errorf("%s Api events = %+v, want one %s %s", id, evs, rt.Method, rt.Path)
			}
		})
	}
}

// TestNoOtherAPIEvents makes the template's API surface exactly the route table.
func TestNoOtherAPIEvents(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	want := map[string]bool{}
	for _, rt := range httpapi.Routes {
		want[rt.Method+" "+rt.Path] = true
	}
	seen := map[string]string{}
	for id, fn := range tpl.functions(t) {
		for _, ev := range apiEvents(t, fn) {
			key := ev.Method + " " + ev.Path
			if !want[key] {
				t.Errorf("%s has Api event %s, which is not in httpapi.Routes", id, key)
			}
			if other, dup := seen[key]; dup {
				t.Errorf("%s is served by both %s and %s", key, other, id)
			}
			seen[key] = id
		}
	}
	if len(seen) != len(want) {
		t.Errorf("template serves %d routes, httpapi.Routes has %d", len(seen), len(want))
	}
}

func TestStreamRoutes(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	for _, rt := range httpapi.Routes {
		fn := tpl.function(t, functionID(rt.Name))
		evs := apiEvents(t, fn)
		if len(evs) != 1 {
			continue // reported by TestEveryRouteHasOneFunction
		}
		mode := evs[0].ResponseTransferMode
		if !rt.Stream {
			if mode != "" {
				t.Errorf("%s is not a stream route but has ResponseTransferMode %q", rt.Name, mode)
			}
			continue
		}
		if mode != "RESPONSE_STREAM" {
			t.Errorf("%s ResponseTransferMode = %q, want RESPONSE_STREAM", rt.Name, mode)
		}
		timeout := cmpOr(fn.Timeout, tpl.Globals.Function.Timeout)
		if timeout <= 0 || timeout > 900 {
			t.Errorf("%s Timeout = %d, want 1..900 (the streaming limit)", rt.Name, timeout)
		}
	}
	checkNoCompression(t, tpl)
}

// checkNoCompression: API Gateway does no content encoding on streamed responses and
// compression is API-wide, so no API may switch it on.
func checkNoCompression(t *testing.T, tpl *samTemplate) {
	t.Helper()
	if _, ok := tpl.Globals.Api["MinimumCompressionSize"]; ok {
		t.Error("Globals.Api sets MinimumCompressionSize")
	}
	for id, res := range tpl.Resources {
		if res.Type == "AWS::Serverless::Api" &&
			strings.Contains(string(res.Properties), `"MinimumCompressionSize"`) {
			t.Errorf("%s sets MinimumCompressionSize", id)
		}
	}
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

var codeURIRe = regexp.MustCompile(`^functions/([a-z0-9]+(?:-[a-z0-9]+)*)/$`)

// TestFunctionFolders: every function is built from the folder of a route or of one of the
// two background jobs, under the matching logical id.
func TestFunctionFolders(t *testing.T) {
	t.Parallel()
	tpl := mustTemplate(t)
	known := map[string]bool{sweeperName: true, deadLetterName: true}
	for _, rt := range httpapi.Routes {
		known[rt.Name] = true
	}
	folders := map[string]string{}
	for id, fn := range tpl.functions(t) {
		m := codeURIRe.FindStringSubmatch(fn.CodeUri)
		if m == nil || !known[m[1]] {
			t.Errorf("%s CodeUri %q is not functions/<route or %s or %s>/",
				id, fn.CodeUri, sweeperName, deadLetterName)
			continue
		}
		if want := functionID(m[1]); id != want {
			t.Errorf("function built from %s is %s, want %s", fn.CodeUri, id, want)
		}
		if other, dup := folders[m[1]]; dup {
			t.Errorf("%s and %s share %s", other, id, fn.CodeUri)
		}
		folders[m[1]] = id
	}
	for name := range known {
		if _, ok := folders[name]; !ok {
			t.Errorf("no function is built from functions/%s/", name)
		}
	}
}
