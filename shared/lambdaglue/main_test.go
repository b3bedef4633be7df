package lambdaglue_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every streamed handler runs in a goroutine; none may outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
