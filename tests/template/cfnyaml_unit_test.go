package template

import (
	"encoding/json"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestCfnValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"ref", `a: !Ref Queue`, `{"a":{"Ref":"Queue"}}`},
		{"getatt scalar", `a: !GetAtt Queue.Arn`, `{"a":{"Fn::GetAtt":["Queue","Arn"]}}`},
		{"getatt list", `a: !GetAtt [Api, RootResourceId]`,
			`{"a":{"Fn::GetAtt":["Api","RootResourceId"]}}`},
		{"sub", `a: !Sub "x=${Q}"`, `{"a":{"Fn::Sub":"x=${Q}"}}`},
		{"nested if", `a: !If [C, !Ref X, !Ref AWS::NoValue]`,
			`{"a":{"Fn::If":["C",{"Ref":"X"},{"Ref":"AWS::NoValue"}]}}`},
		{"condition", `a: !And [!Condition B, !Equals [!Ref P, ""]]`,
			`{"a":{"Fn::And":[{"Condition":"B"},{"Fn::Equals":[{"Ref":"P"},""]}]}}`},
		{"plain scalars", `{n: 3, b: true, s: "3", z: null}`, `{"b":true,"n":3,"s":"3","z":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.in), &doc); err != nil {
				t.Fatal(err)
			}
			v, err := cfnValue(&doc)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(v)
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCfnValueRejectsDuplicateKeys(t *testing.T) {
	t.Parallel()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\na: 2\n"), &doc); err != nil {
		t.Skipf("the YAML parser already refuses duplicate keys: %v", err)
	}
	if _, err := cfnValue(&doc); err == nil {
		t.Fatal("duplicate key accepted")
	}
}

func TestFunctionID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"submit-job": "SubmitJobFunction", "openapi": "OpenapiFunction",
		"dead-letter": "DeadLetterFunction", "worker-heartbeat": "WorkerHeartbeatFunction",
	} {
		if got := functionID(in); got != want {
			t.Errorf("functionID(%q) = %q, want %q", in, got, want)
		}
	}
}
