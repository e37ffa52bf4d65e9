package buckets

import (
	"context"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/buckets/bucketstest"
)

// TestConformance runs the buckets conformance suite against the service,
// bound to the fixture's principal and thread as the API binds it, over
// hubd's on-disk stores and over in-memory ones. The gRPC client runs it in
// test/buckets_conformance_test.go.
func TestConformance(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		bucketstest.Run(t, func(t *testing.T) (hub.Buckets, context.Context) {
			f := newFixture(t)
			return f.svc.Buckets(f.p, f.thread), t.Context()
		})
	})
	t.Run("mem", func(t *testing.T) {
		bucketstest.Run(t, func(t *testing.T) (hub.Buckets, context.Context) {
			f := newMemFixture(t)
			return f.svc.Buckets(f.p, f.thread), t.Context()
		})
	})
}
