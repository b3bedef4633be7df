package httpapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

// These tests check the served OpenAPI document (the embedded openapi.json) against the route
// table and the domain's wire vocabulary, and that the served docs page loads nothing from
// another host. They need no services.

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIDoc decodes the embedded document.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// openAPIObj returns m[key] as an object, or nil.
func openAPIObj(m any, key string) map[string]any {
	mm, _ := m.(map[string]any)
	v, _ := mm[key].(map[string]any)
	return v
}

// openAPIPointer resolves a local "#/a/b" reference in doc.
func openAPIPointer(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("%q is not a local reference", ref)
	}
	var cur any = doc
	for _, part := range strings.Split(rest, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[part]
			if !ok {
				return nil, fmt.Errorf("%q: no %q", ref, part)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%q: bad index %q", ref, part)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q: cannot descend into %q", ref, part)
		}
	}
	return cur, nil
}

// openAPIDeref follows $ref chains.
func openAPIDeref(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	for i := 0; i < 32; i++ {
		m, _ := v.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		next, err := openAPIPointer(doc, ref)
		if err != nil {
			t.Fatal(err)
		}
		v = next
	}
	t.Fatal("a $ref chain does not end")
	return nil
}

// openAPIOperations lists "METHOD path" -> operation object.
func openAPIOperations(doc map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range openAPIObj(doc, "paths") {
		for _, m := range openAPIMethods {
			if op := openAPIObj(item, m); op != nil {
				out[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return out
}

func TestOpenAPIDocument(t *testing.T) {
	doc := openAPIDoc(t)
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi = %v, want 3.0.3", doc["openapi"])
	}
	info := openAPIObj(doc, "info")
	if info["title"] == "" || info["version"] == "" {
		t.Errorf("info needs a title and a version: %v", info)
	}
	for _, name := range []string{"ErrorEnvelope", "JobSpecRequest", "Job", "Event", "Result",
		"Registration", "Worker"} {
		if openAPIObj(openAPIObj(openAPIObj(doc, "components"), "schemas"), name) == nil {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
}

func TestOpenAPIRoutesMatchRouteTable(t *testing.T) {
	ops := openAPIOperations(openAPIDoc(t))
	var documented, routed []string
	for k := range ops {
		documented = append(documented, k)
	}
	for _, rt := range Routes {
		routed = append(routed, rt.Method+" "+rt.Path)
	}
	sort.Strings(documented)
	sort.Strings(routed)
	for _, k := range routed {
		if !slices.Contains(documented, k) {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	for _, k := range documented {
		if !slices.Contains(routed, k) {
			t.Errorf("openapi.json documents %s, which is not in Routes", k)
		}
	}
}

// openAPIMentions reports whether a schema is, or is composed of, a reference to name.
func openAPIMentions(schema any, name string) bool {
	m, _ := schema.(map[string]any)
	if m == nil {
		return false
	}
	if m["$ref"] == "#/components/schemas/"+name {
		return true
	}
	for _, key := range []string{"allOf", "oneOf", "anyOf"} {
		list, _ := m[key].([]any)
		for _, s := range list {
			if openAPIMentions(s, name) {
				return true
			}
		}
	}
	return false
}

func TestOpenAPIOperationsPerRoute(t *testing.T) {
	doc := openAPIDoc(t)
	ops := openAPIOperations(doc)
	ids := map[string]bool{}
	for _, rt := range Routes {
		op := ops[rt.Method+" "+rt.Path]
		if op == nil {
			continue // reported by TestOpenAPIRoutesMatchRouteTable
		}
		where := rt.Method + " " + rt.Path
		if op["operationId"] != rt.Name {
			t.Errorf("%s: operationId %v, want the route name %q", where, op["operationId"], rt.Name)
		}
		if ids[rt.Name] {
			t.Errorf("%s: operationId %q used twice", where, rt.Name)
		}
		ids[rt.Name] = true
		if op["x-role"] != rt.Role {
			t.Errorf("%s: x-role %v, want %q", where, op["x-role"], rt.Role)
		}
		sec, hasSec := op["security"].([]any)
		if rt.Role == "public" && (!hasSec || len(sec) != 0) {
			t.Errorf("%s: a public route needs an explicit empty security list", where)
		}
		if rt.Role != "public" && len(sec) == 0 {
			t.Errorf("%s: a %s route needs a security requirement", where, rt.Role)
		}
		if tags, _ := op["tags"].([]any); len(tags) == 0 {
			t.Errorf("%s: no tag", where)
		}
		if strings.Contains(rt.Path, "{id}") && !openAPIHasPathID(t, doc, op) {
			t.Errorf("%s: the {id} path parameter is not declared", where)
		}
		var ok2xx, errEnvelope bool
		for code, resp := range openAPIObj(op, "responses") {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s: response code %q is not a number", where, code)
				continue
			}
			ok2xx = ok2xx || (n >= 200 && n < 300)
			if n >= 400 {
				r := openAPIDeref(t, doc, resp)
				schema := openAPIObj(openAPIObj(openAPIObj(r, "content"), "application/json"), "schema")
				errEnvelope = errEnvelope || openAPIMentions(schema, "ErrorEnvelope")
			}
		}
		if !ok2xx {
			t.Errorf("%s: no 2xx response", where)
		}
		if !errEnvelope {
			t.Errorf("%s: no 4xx/5xx response with the ErrorEnvelope schema", where)
		}
	}
}

func openAPIHasPathID(t *testing.T, doc map[string]any, op map[string]any) bool {
	params, _ := op["parameters"].([]any)
	for _, p := range params {
		pm := openAPIDeref(t, doc, p)
		if pm["in"] == "path" && pm["name"] == "id" && pm["required"] == true {
			return true
		}
	}
	return false
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := openAPIDoc(t)
	count := 0
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				count++
				if _, err := openAPIPointer(doc, ref); err != nil {
					t.Errorf("at %s: %v", at, err)
				}
			}
			for k, vv := range x {
				walk(vv, at+"/"+k)
			}
		case []any:
			for i, vv := range x {
				walk(vv, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(doc, "#")
	if count == 0 {
		t.Fatal("no $ref found; the walk is broken")
	}
}

// openAPIEnum returns the enum of components.schemas.<name> as strings.
func openAPIEnum(t *testing.T, doc map[string]any, name string) []string {
	t.Helper()
	s := openAPIObj(openAPIObj(openAPIObj(doc, "components"), "schemas"), name)
	list, _ := s["enum"].([]any)
	var out []string
	for _, v := range list {
		out = append(out, fmt.Sprint(v))
	}
	if len(out) == 0 {
		t.Fatalf("components.schemas.%s has no enum", name)
	}
	return out
}

func openAPISameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: documented %v, code has %v", what, got, want)
	}
}

func TestOpenAPIEnumsMatchDomain(t *testing.T) {
	doc := openAPIDoc(t)
	var states []string
	for _, s := range domain.AllStates {
		states = append(states, string(s))
	}
	openAPISameSet(t, "State", openAPIEnum(t, doc, "State"), states)
	codes := []domain.ResultCode{domain.CodeValidationFailed, domain.CodeExecutionFailed,
		domain.CodeInputIncomplete, domain.CodeInputNotFound, domain.CodeFormatMismatch,
		domain.CodeChecksumMismatch, domain.CodeVerificationFailed, domain.CodeInsufficientSpace,
		domain.CodeTimeout, domain.CodeCancelled, domain.CodeUnsupportedOperation,
		domain.CodeWorkerLost, domain.CodeDeadLettered, domain.CodePathNotAllowed}
	var codeNames []string
	for _, c := range codes {
		codeNames = append(codeNames, string(c))
	}
	openAPISameSet(t, "ResultCode", openAPIEnum(t, doc, "ResultCode"), codeNames)
	// Every kind the functions report is documented; the gateway adds a few of its own.
	documented := openAPIEnum(t, doc, "ErrorType")
	for _, k := range []domain.Kind{domain.KindValidation, domain.KindNotFound,
		domain.KindInvalidTransition, domain.KindConflict, domain.KindLeaseLost,
		domain.KindUnauthorized, domain.KindForbidden, domain.KindTooLarge,
		domain.KindMethodNotAllowed, domain.KindUnavailable, domain.KindInternal} {
		if !slices.Contains(documented, string(k)) {
			t.Errorf("ErrorType lacks %q", k)
		}
		// and the one status per kind is the one the description promises
		if !strings.Contains(openAPIObj(openAPIObj(openAPIObj(doc, "components"), "schemas"),
			"ErrorType")["description"].(string), fmt.Sprintf("%s %d", k, StatusOf(k))) {
			t.Errorf("ErrorType's description does not map %s to %d", k, StatusOf(k))
		}
	}
	image := openAPIObj(openAPIObj(openAPIObj(openAPIObj(doc, "components"), "schemas"),
		"Image"), "properties")
	var formats []string
	for _, v := range openAPIObj(image, "format")["enum"].([]any) {
		formats = append(formats, v.(string))
	}
	openAPISameSet(t, "image.format", formats, domain.ImageFormats)
}

// openAPIExternal finds anything in the docs page that would load from another host:
// absolute http(s) URLs and protocol-relative ones in src, href, url() or @import.
var openAPIExternal = regexp.MustCompile(
	`(?i)https?://|(?:src|href|action)\s*=\s*["']?\s*//|url\(\s*["']?\s*//|@import`)

func TestOpenAPIDocsPageSelfContained(t *testing.T) {
	page := string(docsHTML)
	if loc := openAPIExternal.FindStringIndex(page); loc != nil {
		start := max(loc[0]-40, 0)
		t.Errorf("docs.html refers to another host: %q", page[start:min(loc[1]+40, len(page))])
	}
	if !strings.Contains(page, `fetch("openapi.json"`) {
		t.Error("docs.html does not fetch openapi.json by a relative URL")
	}
	if n := strings.Count(page, "\n"); n >= 400 {
		t.Errorf("docs.html has %d lines; keep it under 400", n)
	}
}
