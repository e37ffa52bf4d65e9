package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/grpc/metadata"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/testhub"
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

// failing is a reader whose source has failed.
type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.E(errors.Internal, "disk on fire") }

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

// boxoCID is the CID boxo's importer gives data with the unixfs-v1-2025
// settings spelled out here (not taken from the buckets package).
func boxoCID(t testing.TB, data []byte) string {
	t.Helper()
	dag := merkledag.NewDAGService(blockservice.New(bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore())), nil))
	p := helpers.DagBuilderParams{Maxlinks: 1024, RawLeaves: true, Dagserv: dag,
		CidBuilder: cid.V1Builder{Codec: cid.DagProtobuf, MhType: mh.SHA2_256}}
	db, err := p.New(chunker.NewSizeSplitter(bytes.NewReader(data), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		t.Fatal(err)
	}
	return nd.Cid().String()
}

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

	// A file of several MiB, random bytes.
	big := randomData(6<<20 + 777)
	var progressed int64
	pushed, err := bc.PushPathProgress(ctx, key, "data/big.bin", bytes.NewReader(big), created.Root.Path, func(n int64) { progressed = n })
	if err != nil {
		t.Fatal(err)
	}
	if want := boxoCID(t, big); pushed.Cid != want {
		t.Fatalf("pushed CID %s, boxo's importer gives %s", pushed.Cid, want)
	}
	if pushed.Size != int64(len(big)) || pushed.Root.Path == created.Root.Path || progressed == 0 {
		t.Fatalf("pushed = %+v, progress %d", pushed, progressed)
	}

	// A directory tree, one push per file, each fast-forward from the last.
	root := pushed.Root.Path
	tree := map[string]string{"site/index.html": "<h1>hi</h1>", "site/css/main.css": "body{}", "site/img/a/b/c.txt": "deep"}
	for _, p := range []string{"site/index.html", "site/css/main.css", "site/img/a/b/c.txt"} {
		r, err := bc.PushPath(ctx, key, p, strings.NewReader(tree[p]), root)
		if err != nil {
			t.Fatalf("push %s: %v", p, err)
		}
		root = r.Root.Path
	}

	list, err := bc.List(ctx)
	if err != nil || len(list) != 1 || list[0].Key != key || list[0].Path != root || list[0].Name != "site" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	item, r, err := bc.ListPath(ctx, key, "site")
	if err != nil {
		t.Fatal(err)
	}
	if r.Path != root || !item.IsDir || item.ItemsCount != 3 {
		t.Fatalf("ListPath site = %+v (root %s)", item, r.Path)
	}
	names := []string{}
	for _, it := range item.Items {
		names = append(names, it.Name)
	}
	if strings.Join(names, ",") != "css,img,index.html" {
		t.Fatalf("site holds %v", names)
	}

	var out bytes.Buffer
	if n, err := bc.PullPath(ctx, key, "data/big.bin", &out); err != nil || n != int64(len(big)) || !bytes.Equal(out.Bytes(), big) {
		t.Fatalf("pull big: n=%d err=%v equal=%v", n, err, bytes.Equal(out.Bytes(), big))
	}
	for p, want := range tree {
		out.Reset()
		if _, err := bc.PullPath(ctx, key, "/"+p, &out); err != nil || out.String() != want {
			t.Fatalf("pull %s = %q, %v", p, out.String(), err)
		}
	}

	// A stale root is refused, naming the current one; nothing changes.
	_, err = bc.PushPath(ctx, key, "site/index.html", strings.NewReader("overwritten"), created.Root.Path)
	wantKind(t, err, errors.FailedPrecondition, root)
	out.Reset()
	if _, err := bc.PullPath(ctx, key, "site/index.html", &out); err != nil || out.String() != tree["site/index.html"] {
		t.Fatalf("after a refused push index.html = %q, %v", out.String(), err)
	}
	if _, err := bc.RemovePath(ctx, key, "site", created.Root.Path); !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("stale remove: %v", err)
	}

	// Move, set and remove paths.
	if err := bc.MovePath(ctx, key, "site/css", "style"); err != nil {
		t.Fatal(err)
	}
	if err := bc.SetPath(ctx, key, "copy/big.bin", pushed.Cid); err != nil {
		t.Fatal(err)
	}
	cur, err := bc.Root(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	after, err := bc.RemovePath(ctx, key, "data", cur.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bc.PullPath(ctx, key, "data/big.bin", io.Discard); !errors.Is(errors.NotExist, err) {
		t.Fatalf("pull removed: %v", err)
	}
	out.Reset()
	if _, err := bc.PullPath(ctx, key, "copy/big.bin", &out); err != nil || !bytes.Equal(out.Bytes(), big) {
		t.Fatalf("pull copy: %v", err)
	}
	if after.Path == cur.Path {
		t.Fatal("RemovePath did not move the root")
	}

	if err := bc.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Root(ctx, key); !errors.Is(errors.NotExist, err) {
		t.Fatalf("root of a removed bucket: %v", err)
	}
	if _, err := bc.PushPath(ctx, key, "x", strings.NewReader("x"), ""); !errors.Is(errors.NotExist, err) {
		t.Fatalf("push to a removed bucket: %v", err)
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
	unknown := "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8" // a well-formed key nobody made
	cases := []struct {
		name string
		call func() error
		kind errors.Kind
		hint string
	}{
		{"create without a name", func() error { _, err := bc.Create(ctx, "", bucketsclient.CreateOptions{}); return err }, errors.Invalid, "name"},
		{"push with ..", func() error {
			_, err := bc.PushPath(ctx, key, "a/../../etc/passwd", strings.NewReader("x"), "")
			return err
		}, errors.Invalid, ".."},
		{"push to the root", func() error { _, err := bc.PushPath(ctx, key, "/", strings.NewReader("x"), ""); return err }, errors.Invalid, "path is empty"},
		{"push with //", func() error { _, err := bc.PushPath(ctx, key, "a//b", strings.NewReader("x"), ""); return err }, errors.Invalid, "empty segment"},
		{"pull with ..", func() error { _, err := bc.PullPath(ctx, key, "../keep.txt", io.Discard); return err }, errors.Invalid, ".."},
		{"pull a missing file", func() error { _, err := bc.PullPath(ctx, key, "nope.txt", io.Discard); return err }, errors.NotExist, "nope.txt"},
		{"unknown key", func() error { _, err := bc.Root(ctx, unknown); return err }, errors.NotExist, "not found"},
		{"push to an unknown key", func() error { _, err := bc.PushPath(ctx, unknown, "x", strings.NewReader("x"), ""); return err }, errors.NotExist, "not found"},
		{"malformed key", func() error { _, err := bc.Root(ctx, "not-a-key"); return err }, errors.Invalid, "not a bucket key"},
		{"empty key", func() error { _, _, err := bc.ListPath(ctx, "", ""); return err }, errors.Invalid, "key is empty"},
		{"bad root", func() error { _, err := bc.PushPath(ctx, key, "x", strings.NewReader("x"), "/ipfs/zzz"); return err }, errors.Invalid, "not /ipfs/"},
		{"move into itself", func() error { return bc.MovePath(ctx, key, "keep.txt", "keep.txt/sub") }, errors.Invalid, "into itself"},
		{"remove the root", func() error { _, err := bc.RemovePath(ctx, key, "", ""); return err }, errors.Invalid, "root"},
		{"set a missing CID", func() error {
			return bc.SetPath(ctx, key, "x", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
		}, errors.NotExist, "not in this hub"},
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
			return errors.FromStatus("", err)
		}, errors.Unimplemented, "no longer exist"},
		{"archive watch", func() error {
			s, err := pb.NewAPIServiceClient(w.h.Conn).ArchiveWatch(ctx, &pb.ArchiveWatchRequest{Key: key})
			if err == nil {
				_, err = s.Recv()
			}
			return errors.FromStatus("", err)
		}, errors.Unimplemented, "no longer exist"},
		{"push paths without a header", func() error {
			s, err := pb.NewAPIServiceClient(w.h.Conn).PushPaths(ctx)
			if err == nil {
				err = s.Send(&pb.PushPathsRequest{Payload: &pb.PushPathsRequest_Chunk_{Chunk: &pb.PushPathsRequest_Chunk{Path: "a", Data: []byte("x")}}})
			}
			if err == nil {
				_, err = s.Recv()
			}
			return errors.FromStatus("", err)
		}, errors.Invalid, "must start with a header"},
		{"no credentials", func() error {
			_, err := bc.List(client.WithThread(context.Background(), threadOf(t, w.ctx)))
			return err
		}, errors.Unauthenticated, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantKind(t, c.call(), c.kind, c.hint)
		})
	}
	// A stream that breaks after 2 MiB: the client cancels, the hub drops
	// what it had.
	broken := io.MultiReader(bytes.NewReader(randomData(2<<20)), failing{})
	if _, err := bc.PushPath(ctx, key, "broken.bin", broken, ""); err == nil {
		t.Fatal("a broken push succeeded")
	}
	if _, err := bc.PullPath(ctx, key, "broken.bin", io.Discard); !errors.Is(errors.NotExist, err) {
		t.Fatalf("the broken push is visible: %v", err)
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
