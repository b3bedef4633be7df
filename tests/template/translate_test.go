package template

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/httpapi"
)

// translateScript renders the SAM template to CloudFormation with aws-sam-translator, the
// library behind the AWS::Serverless transform. Local CodeUri folders become placeholder S3
// URIs (what `sam package` does), and managed policy names are never looked up in IAM.
const translateScript = `
import json, sys
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicyLookup:
    def load(self):
        return {}

with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
for res in template.get("Resources", {}).values():
    if res.get("Type") == "AWS::Serverless::Function":
        props = res["Properties"]
        props["CodeUri"] = "s3://placeholder/" + props["CodeUri"].strip("/") + ".zip"
try:
    out = transform(template, {}, NoManagedPolicyLookup())
except InvalidDocumentException as e:
    sys.exit("\n".join(cause.message for cause in e.causes))
json.dump(out, sys.stdout)
`

// renderedMethod is one method of the rendered REST API's OpenAPI body.
type renderedMethod struct {
	Integration struct {
		Type string
		URI  struct {
			Sub string `json:"Fn::Sub"`
		}
		ResponseTransferMode string
		Credentials          any
	} `json:"x-amazon-apigateway-integration"`
	Security json.RawMessage
}

type renderedAPI struct {
	MinimumCompressionSize any
	Body                   struct {
		Paths map[string]map[string]renderedMethod `json:"paths"`
	}
}

// TestSAMTranslation renders the template and checks each route's integration: streaming
// for the stream route, buffered for the rest, and the authentication of its role.
func TestSAMTranslation(t *testing.T) {
	t.Parallel()
	api := renderAPI(t)
	if api.MinimumCompressionSize != nil {
		t.Error("the REST API compresses responses; streamed responses must not be encoded")
	}
	for _, rt := range httpapi.Routes {
		m, ok := api.Body.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s: %s %s is missing from the rendered API", rt.Name, rt.Method, rt.Path)
			continue
		}
		checkIntegration(t, rt, m)
		checkSecurity(t, rt, m)
	}
	for path, methods := range api.Body.Paths {
		for method := range methods {
			if method != "options" && !isRoute(method, path) {
				t.Errorf("rendered API has %s %s, which is not a route", method, path)
			}
		}
	}
}

func renderAPI(t *testing.T) renderedAPI {
	t.Helper()
	requireTool(t, "python3", "apt-get install python3")
	if _, errOut, code := runTool(t, "python3", "-c", "import samtranslator"); code != 0 {
		t.Fatalf("python3 cannot import samtranslator; install it with `python3 -m pip "+
			"install aws-sam-translator` (it ships with the machine image):\n%s", errOut)
	}
	out, errOut, code := runTool(t, "python3", "-c", translateScript, repoFile("template.yaml"))
	if code != 0 {
		t.Fatalf("SAM translation failed (exit %d):\n%s", code, errOut)
	}
	var cfn struct {
		Resources map[string]struct {
			Type       string
			Properties json.RawMessage
		}
	}
	if err := json.Unmarshal(out, &cfn); err != nil {
		t.Fatalf("translator output: %v", err)
	}
	var apis []renderedAPI
	for _, res := range cfn.Resources {
		if res.Type == "AWS::ApiGateway::RestApi" {
			var api renderedAPI
			if err := json.Unmarshal(res.Properties, &api); err != nil {
				t.Fatalf("rendered RestApi: %v", err)
			}
			apis = append(apis, api)
		}
	}
	if len(apis) != 1 {
		t.Fatalf("rendered %d REST APIs, want 1", len(apis))
	}
	return apis[0]
}

func checkIntegration(t *testing.T, rt httpapi.Route, m renderedMethod) {
	t.Helper()
	in, arn := m.Integration, "${"+functionID(rt.Name)+".Arn}"
	want := "/2015-03-31/functions/" + arn + "/invocations"
	wantMode := ""
	if rt.Stream {
		want = "/2021-11-15/functions/" + arn + "/response-streaming-invocations"
		wantMode = "STREAM"
	}
	if in.Type != "aws_proxy" || !strings.Contains(in.URI.Sub, want) ||
		in.ResponseTransferMode != wantMode {
		t.Errorf("%s integration = %s %s mode %q; want aws_proxy ...%s mode %q",
			rt.Name, in.Type, in.URI.Sub, in.ResponseTransferMode, want, wantMode)
	}
}

// checkSecurity: worker routes are SigV4-signed and invoked with the gateway's own
// permission, not the caller's credentials; client routes use the API key or Cognito by
// the ClientAuth condition; public routes, /metrics and the stream route are open at the
// gateway and checked by their functions.
func checkSecurity(t *testing.T, rt httpapi.Route, m renderedMethod) {
	t.Helper()
	var compact bytes.Buffer
	if len(m.Security) > 0 {
		if err := json.Compact(&compact, m.Security); err != nil {
			t.Fatalf("%s security: %v", rt.Name, err)
		}
	}
	sec := compact.String()
	switch {
	case rt.Role == "worker":
		if sec != `[{"AWS_IAM":[]}]` || m.Integration.Credentials != nil {
			t.Errorf("%s security %s, credentials %v; want AWS_IAM and none",
				rt.Name, sec, m.Integration.Credentials)
		}
	case rt.Role == "client" && !rt.Stream:
		if !strings.Contains(sec, `"Fn::If"`) || !strings.Contains(sec, "CognitoAuthorizer") ||
			!strings.Contains(sec, "api_key") {
			t.Errorf("%s security %s; want API key or Cognito by condition", rt.Name, sec)
		}
	default:
		if sec != "" {
			t.Errorf("%s security %s; want open at the gateway", rt.Name, sec)
		}
	}
}

func isRoute(method, path string) bool {
	for _, rt := range httpapi.Routes {
		if strings.EqualFold(rt.Method, method) && rt.Path == path {
			return true
		}
	}
	return false
}
