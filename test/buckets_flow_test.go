package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
)

// bucketsWorld is a running hub, a developer's account-key context naming a
// fresh DB called "buckets" (as the JS getOrCreate makes), and the client.
type bucketsWorld struct {
	h      *testhub.Hub
	ctx    context.Context // credentials and the thread
	keyCtx context.Context // credentials only
	bc     *bucketsclient.Client
}

func newBucketsWorld(t testing.TB, name string) bucketsWorld {
	t.Helper()
	return newBucketsUser(t, testhub.Start(t, nil), name)
}

// newBucketsUser is newBucketsWorld for another developer on hub h.
func newBucketsUser(t testing.TB, h *testhub.Hub, name string) bucketsWorld {
	t.Helper()
	hc := hubclient.New(h.Conn)
	sctx, _ := signup(t, hc, name)
	k, err := hc.CreateKey(sctx, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testhub.WithKey(t, k)
	id, err := threadsclient.New(h.Conn).NewDB(ctx, "", threadsclient.DBOptions{Name: "buckets"})
	if err != nil {
		t.Fatal(err)
	}
	return bucketsWorld{h: h, ctx: client.WithThread(ctx, id.String()), keyCtx: ctx, bc: bucketsclient.New(h.Conn)}
}

// threadOf returns the thread ID a context names.
func threadOf(t testing.TB, ctx context.Context) string {
	md, _ := metadata.FromOutgoingContext(ctx)
	v := md.Get("x-textile-thread")
	if len(v) == 0 {
		t.Fatal("context names no thread")
	}
	return v[0]
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestBucketsFlow checks what the client offers beyond the conformance
// suite (TestBucketsConformance): Create's seed and links, push progress,
// and List.
func TestBucketsFlow(t *testing.T) {
	w := newBucketsWorld(t, "bucky")
	ctx, bc := w.ctx, w.bc

	created, err := bc.Create(ctx, "site", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Root.Key
	if !strings.HasPrefix(key, "k") || len(created.Seed) != 32 || created.SeedCID == "" {
		t.Fatalf("create = %+v", created)
	}
	if !strings.HasSuffix(created.Links.URL, "/buckets/"+key) || !strings.HasSuffix(created.Links.IPNS, "/ipns/"+key) {
		t.Fatalf("links = %+v", created.Links)
	}

	big := randomData(6<<20 + 777)
	var progressed int64
	pushed, err := bc.PushPathProgress(ctx, key, "data/big.bin", bytes.NewReader(big), created.Root.Path, func(n int64) { progressed = n })
	if err != nil {
		t.Fatal(err)
	}
	if pushed.Size != int64(len(big)) || progressed == 0 || progressed > int64(len(big)) {
		t.Fatalf("pushed = %+v, progress %d", pushed, progressed)
	}

	list, err := bc.List(ctx)
	if err != nil || len(list) != 1 || list[0].Key != key || list[0].Path != pushed.Root.Path || list[0].Name != "site" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := bc.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if list, _ := bc.List(ctx); len(list) != 0 {
		t.Fatalf("List after remove = %+v", list)
	}
}

func TestBucketsBadInput(t *testing.T) {
	w := newBucketsWorld(t, "badbucky")
	ctx, bc := w.ctx, w.bc
	created, err := bc.Create(ctx, "b", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Root.Key
	if _, err := bc.PushPath(ctx, key, "keep.txt", strings.NewReader("keep"), ""); err != nil {
		t.Fatal(err)
	}
	before, err := bc.Root(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
		kind errors.Kind
		hint string
	}{
		{"no thread header", func() error { _, err := bc.List(w.keyCtx); return err }, errors.Invalid, "x-textile-thread"},
		{"bad thread header", func() error { _, err := bc.List(client.WithThread(w.keyCtx, "nonsense")); return err }, errors.Invalid, ""},
		{"somebody else's thread", func() error {
			other := newBucketsUser(t, w.h, "otherbucky")
			if _, err := other.bc.Create(other.ctx, "theirs", bucketsclient.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			_, err := bc.List(client.WithThread(w.keyCtx, threadOf(t, other.ctx)))
			return err
		}, errors.NotExist, ""},
		{"archive", func() error {
			_, err := pb.NewAPIServiceClient(w.h.Conn).Archive(ctx, &pb.ArchiveRequest{Key: key})
			return rpcerr.FromStatus("", err)
		}, errors.Unimplemented, "no longer exist"},
		{"archive watch", func() error {
			s, err := pb.NewAPIServiceClient(w.h.Conn).ArchiveWatch(ctx, &pb.ArchiveWatchRequest{Key: key})
			if err == nil {
				_, err = s.Recv()
			}
			return rpcerr.FromStatus("", err)
		}, errors.Unimplemented, "no longer exist"},
		{"push paths without a header", func() error {
			s, err := pb.NewAPIServiceClient(w.h.Conn).PushPaths(ctx)
			if err == nil {
				err = s.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Chunk_{Chunk: &pb.PushPathsRequest_Chunk{Path: "a", Data: []byte("x")}}})
			}
			if err == nil {
				_, err = s.Recv()
			}
			return rpcerr.FromStatus("", err)
		}, errors.Invalid, "must start with a header"},
		{"no credentials", func() error {
			_, err := bc.List(client.WithThread(context.Background(), threadOf(t, w.ctx)))
			return err
		}, errors.Unauthenticated, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errorstest.WantKind(t, c.call(), c.kind, c.hint)
		})
	}
	after, err := bc.Root(ctx, key)
	if err != nil || after.Path != before.Path {
		t.Fatalf("bad input moved the root from %s to %s (%v)", before.Path, after.Path, err)
	}
	var out bytes.Buffer
	if _, err := bc.PullPath(ctx, key, "keep.txt", &out); err != nil || out.String() != "keep" {
		t.Fatalf("keep.txt = %q, %v", out.String(), err)
	}
}
