package test

import (
	"os"
	"testing"

	"github.com/selfhub/hub/test/testhub"
)

// TestMain runs the end-to-end tests with the binaries they start built
// once for all of them (testhub.Main).
func TestMain(m *testing.M) { os.Exit(testhub.Main(m)) }
