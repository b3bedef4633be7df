package dynamo

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

func TestCursorRoundTripAndRefusals(t *testing.T) {
	t.Parallel()
	key := map[string]types.AttributeValue{"job_id": str("j1"), "state": str("QUEUED"),
		"created_key": str("2026-01-01T00:00:00.000000000Z#j1")}
	c, err := encodeCursor("QUEUED", key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeCursor("QUEUED", c); err != nil {
		t.Fatalf("own cursor refused: %v", err)
	}
	for name, bad := range map[string]struct{ state, cursor string }{
		"other filter": {"FAILED", c},
		"garbage":      {"QUEUED", "%%%"},
		"empty object": {"QUEUED", "e30"},
		"all listing":  {"", c},
	} {
		if _, err := decodeCursor(bad.state, bad.cursor); domain.ErrorKind(err) !=
			domain.KindValidation {
			t.Errorf("%s: got %v, want a validation error", name, err)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	key := map[string]types.AttributeValue{"job_id": str("j1"), "kind": str("job"),
		"created_key": str("2026-01-01T00:00:00.000000000Z#j1")}
	c, _ := encodeCursor("", key)
	f.Add("", c)
	f.Add("QUEUED", "eyJzIjoiUVVFVUVEIn0")
	f.Fuzz(func(t *testing.T, state, cursor string) {
		got, err := decodeCursor(state, cursor)
		if err != nil {
			if domain.ErrorKind(err) != domain.KindValidation {
				t.Fatalf("non-validation error: %v", err)
			}
			return
		}
		if len(got) != 3 || !domain.ValidID(got["job_id"].(*types.AttributeValueMemberS).Value) {
			t.Fatalf("accepted a malformed key: %v", got)
		}
	})
}
