package test

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/api/pb/usersdpb"
	"github.com/selfhub/hub/client"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// usageOf returns GetUsage's figures for key ("" for the caller), by name.
func usageOf(t testing.TB, conn grpc.ClientConnInterface, ctx context.Context, key string) map[string]int64 {
	t.Helper()
	res, err := usersdpb.NewAPIServiceClient(conn).GetUsage(ctx, &usersdpb.GetUsageRequest{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for k, u := range res.Usage.Usage {
		out[k] = u.Units
	}
	return out
}

// TestUsage checks that GetUsage reports what hubd metered for a user:
// instances written and read, bytes stored and egress, persisted across a
// restart; that a developer can read its users' usage and a user only its
// own.
func TestUsage(t *testing.T) {
	h := testhub.Start(t, nil)
	w := newWorld(t, h)
	userCtx := client.WithToken(testhub.WithKey(t, w.devUser), w.devToken)
	api := threadspb.NewAPIClient(h.Conn)
	id, _ := threads.NewID(threads.Raw)
	if _, err := api.NewDB(userCtx, &threadspb.NewDBRequest{DbID: id.Bytes(), Name: "metered",
		Collections: []*threadspb.CollectionConfig{{Name: "things"}}}); err != nil {
		t.Fatal(err)
	}
	inst := [][]byte{[]byte(`{"_id":"a","v":"0123456789"}`), []byte(`{"_id":"b","v":"0123456789"}`)}
	if _, err := api.Create(userCtx, &threadspb.CreateRequest{DbID: id.Bytes(), CollectionName: "things", Instances: inst}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Find(userCtx, &threadspb.FindRequest{DbID: id.Bytes(), CollectionName: "things", QueryJSON: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	usage := func(ctx context.Context, key string) map[string]int64 {
		t.Helper()
		return usageOf(t, h.Conn, ctx, key)
	}
	check := func(u map[string]int64) {
		t.Helper()
		if u["instance_writes"] != 2 || u["instance_reads"] < 2 || u["stored_data"] < int64(len(inst[0])+len(inst[1])) || u["network_egress"] == 0 {
			t.Fatalf("usage %v", u)
		}
	}
	check(usage(userCtx, ""))
	userKey, _ := identity.String(w.user.GetPublic())
	// The developer reads its user's usage through its account key.
	check(usage(testhub.WithKey(t, w.devAcct), string(userKey)))
	// Another identity of the app may not, and a stranger is not a user.
	other, _ := identity.New()
	otherTok, err := w.tc.GetToken(testhub.WithKey(t, w.devUser), other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = usersdpb.NewAPIServiceClient(h.Conn).GetUsage(client.WithToken(testhub.WithKey(t, w.devUser), otherTok), &usersdpb.GetUsageRequest{Key: string(userKey)})
	if rpcerr.Code(err) != codes.PermissionDenied {
		t.Fatalf("a user read another's usage: %v", err)
	}
	stranger, _ := identity.New()
	strangerKey, _ := identity.String(stranger.GetPublic())
	_, err = usersdpb.NewAPIServiceClient(h.Conn).GetUsage(testhub.WithKey(t, w.devAcct), &usersdpb.GetUsageRequest{Key: string(strangerKey)})
	if rpcerr.Code(err) != codes.NotFound {
		t.Fatalf("usage of a non-user: %v", err)
	}
	// The counts are persisted: a restart keeps them.
	h.Restart()
	if u := usage(userCtx, ""); u["instance_writes"] != 2 {
		t.Fatalf("usage after restart %v", u)
	}
}
