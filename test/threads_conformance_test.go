package test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads/db/threadstest"
)

// TestThreadsConformance runs the ThreadDB conformance suite against the Go
// client (through Client.Threads) and a real hubd, each subtest as a new
// developer with an account key. The service runs it in
// threads/db/conformance_test.go.
func TestThreadsConformance(t *testing.T) {
	h := testhub.Start(t, nil)
	hc := hubclient.New(h.Conn)
	tc := threadsclient.New(h.Conn).Threads()
	n := 0
	threadstest.Run(t, func(t *testing.T) (hub.Threads, context.Context) {
		n++
		sctx, _ := signup(t, hc, fmt.Sprintf("tconform%d", n))
		k, err := hc.CreateKey(sctx, hub.AccountKey, false)
		if err != nil {
			t.Fatal(err)
		}
		return tc, testhub.WithKey(t, k)
	})
}

// TestListenUnknownAction: a Listen filter whose action is none of the
// wire's (a client the Go client's own check does not guard) is refused
// with InvalidArgument, not left to match nothing.
func TestListenUnknownAction(t *testing.T) {
	h := testhub.Start(t, nil)
	hc := hubclient.New(h.Conn)
	sctx, _ := signup(t, hc, "badaction")
	k, err := hc.CreateKey(sctx, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testhub.WithKey(t, k)
	id, err := threadsclient.New(h.Conn).NewDB(ctx, "", threadsclient.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := threadspb.NewAPIClient(h.Conn).Listen(ctx, &threadspb.ListenRequest{DbID: id.Bytes(),
		Filters: []*threadspb.ListenRequest_Filter{{Action: threadspb.ListenRequest_Filter_Action(4)}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "filter action 4") {
		t.Fatalf("Listen with filter action 4: %v; want InvalidArgument naming the action", err)
	}
}
