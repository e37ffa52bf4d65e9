package db

import (
	"context"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/threads/db/threadstest"
)

// TestConformance runs the ThreadDB conformance suite against the manager
// bound to a caller, as the API binds it, each subtest as a new identity.
// The gRPC client runs it in test/threads_conformance_test.go.
func TestConformance(t *testing.T) {
	threadstest.Run(t, func(t *testing.T) (hub.Threads, context.Context) {
		m := newManager(t, Config{})
		return m.Threads(hub.Principal{Kind: hub.DeveloperPrincipal, Account: "conformance"}), t.Context()
	})
}
