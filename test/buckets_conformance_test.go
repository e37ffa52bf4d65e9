package test

import (
	"context"
	"fmt"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/buckets/bucketstest"
	"github.com/selfhub/hub/test/testhub"
)

// TestBucketsConformance runs the buckets conformance suite against the Go
// client and a real hubd, each subtest as a new developer with a DB of
// their own, named with its credentials by the context. The service runs it
// in buckets/conformance_test.go.
func TestBucketsConformance(t *testing.T) {
	runBucketsConformance(t, testhub.Start(t, nil))
}

// runBucketsConformance runs the suite against h, each subtest as a new
// developer.
func runBucketsConformance(t *testing.T, h *testhub.Hub) {
	n := 0
	bucketstest.Run(t, func(t *testing.T) (hub.Buckets, context.Context) {
		n++
		w := newBucketsUser(t, h, fmt.Sprintf("conform%d", n))
		return w.bc, w.ctx
	})
}
