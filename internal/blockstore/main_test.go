package blockstore_test

import (
	"os"
	"testing"

	"github.com/selfhub/hub/test/testhub"
)

// TestMain runs the package's tests with the binaries they start (hubd and
// the servers testhub builds from go.mod) built once for all of them
// (testhub.Main).
func TestMain(m *testing.M) { os.Exit(testhub.Main(m)) }
