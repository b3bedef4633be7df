package localaws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvDebug set to 1 makes ForTests log the services' own output to stderr.
const EnvDebug = "H2K_LOCALAWS_DEBUG"

// shared holds the services ForTests started for this test binary, if any.
var shared struct {
	once sync.Once
	svc  *Services
	err  error
}

// ForTests returns endpoints for an integration test. It reuses the services named by
// H2K_DYNAMODB_ENDPOINT and H2K_SQS_ENDPOINT (as cmd/localaws exports them, so one set serves
// a whole `go test ./...`), or else starts one set per test binary, stopped by RunTests (on
// Linux the kernel also ends them when the test binary exits without it). When services
// cannot start, the test is skipped with the reason, or fails if H2K_REQUIRE_SERVICES=1.
func ForTests(tb testing.TB) Endpoints {
	tb.Helper()
	ep, ok, err := endpointsFromEnv()
	if err != nil {
		tb.Fatal(err)
	}
	if ok {
		return ep
	}
	shared.once.Do(func() { shared.svc, shared.err = startShared(tb) })
	if shared.err != nil {
		unavailable(tb, shared.err)
	}
	return shared.svc.Endpoints
}

// startShared outlives the test that happens to call it first, so its context is detached
// from that test's cancellation.
func startShared(tb testing.TB) (*Services, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.Context()), 3*time.Minute)
	defer cancel()
	return Start(ctx, Options{Logger: testLogger()})
}

func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv(EnvRequireServices) == "1" {
		tb.Fatalf("local aws services required (%s=1): %v", EnvRequireServices, err)
	}
	tb.Skipf("local aws services unavailable: %v", err)
}

func endpointsFromEnv() (Endpoints, bool, error) {
	ep := Endpoints{
		DynamoEndpoint: os.Getenv(EnvDynamoEndpoint),
		SQSEndpoint:    os.Getenv(EnvSQSEndpoint),
	}
	switch {
	case ep.DynamoEndpoint == "" && ep.SQSEndpoint == "":
		return Endpoints{}, false, nil
	case ep.DynamoEndpoint == "" || ep.SQSEndpoint == "":
		return Endpoints{}, false, fmt.Errorf("set both %s and %s, or neither",
			EnvDynamoEndpoint, EnvSQSEndpoint)
	}
	return ep, true, nil
}

func testLogger() *slog.Logger {
	if os.Getenv(EnvDebug) != "1" {
		return slog.New(slog.DiscardHandler)
	}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// RunTests runs m and then stops any services ForTests started, so none outlive the test
// binary. Use it from TestMain: func TestMain(m *testing.M) { os.Exit(localaws.RunTests(m)) }.
func RunTests(m *testing.M) int {
	code := m.Run()
	if shared.svc != nil {
		if err := shared.svc.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localaws: stop:", err)
		}
	}
	return code
}

// UniquePrefix returns a short name prefix of its own for one test, readable in listings and
// valid in DynamoDB table and SQS queue names: lowercase letters, digits and dashes, at most
// 25 characters, leaving room for a suffix within SQS's 80.
func UniquePrefix(tb testing.TB) string {
	var b [4]byte
	rand.Read(b[:]) // never fails: crypto/rand panics rather than return an error
	return slug(tb.Name(), 16) + "-" + hex.EncodeToString(b[:])
}

// slug lowercases s, turns each run of other characters into one dash, and cuts it to max.
func slug(s string, max int) string {
	var out strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !ok {
			dash = out.Len() > 0
			continue
		}
		if out.Len()+1 > max || dash && out.Len()+2 > max {
			break
		}
		if dash {
			out.WriteByte('-')
			dash = false
		}
		out.WriteRune(r)
	}
	if out.Len() == 0 {
		return "t"
	}
	return out.String()
}
