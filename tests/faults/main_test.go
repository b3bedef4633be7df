// Package faults drives the control plane through failures on the real local services
// (DynamoDB Local, fauxqs, qemu-img): a worker killed mid-conversion, duplicate and
// dead-lettered messages, racing cancels and claims, a DynamoDB outage, capability matching
// under load, cancels of running conversions and retries. Each test has its own tables and
// queues; tests that need processes build the real server and worker binaries once.
package faults

import (
	"os"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/localaws"
)

func TestMain(m *testing.M) {
	code := localaws.RunTests(m)
	removeShared()
	os.Exit(code)
}
