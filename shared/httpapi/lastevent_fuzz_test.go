package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/domain"
)

func FuzzLastEventID(f *testing.F) {
	for _, s := range []string{"", "0", "42", "-1", "1e3", "99999999999999999999", " 7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("GET", "/jobs/j/events/stream", nil)
		r.Header.Set("Last-Event-ID", v)
		n, err := lastEventID(r)
		if err != nil {
			if domain.ErrorKind(err) != domain.KindValidation {
				t.Fatalf("%q: non-validation error %v", v, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("%q: accepted negative %d", v, n)
		}
	})
}
