package browser

import (
	"os"
	"testing"

	"github.com/hyper2kvm/controlplane/shared/localaws"
)

func TestMain(m *testing.M) { os.Exit(localaws.RunTests(m)) }
