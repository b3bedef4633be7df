package httpapi_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/hyper2kvm/controlplane/shared/localaws"
)

// TestMain runs the tests on the shared local services, then checks that no goroutine a
// test started (an SSE pump, a stream body reader) outlived it. Idle keep-alive connections
// of the SDK and test clients are not leaks.
func TestMain(m *testing.M) {
	code := localaws.RunTests(m)
	if code == 0 {
		if err := goleak.Find(leakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	}
}
