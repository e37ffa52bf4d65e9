package buckets

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	mh "github.com/multiformats/go-multihash"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/internal/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

type fixture struct {
	svc    *Service
	p      hub.Principal
	thread threads.ID
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	return newFixtureConfig(t, Config{GatewayURL: "http://127.0.0.1:8006", WWWDomain: "buckets.example"})
}

func newFixtureConfig(t testing.TB, cfg Config) fixture {
	t.Helper()
	st, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m := db.NewManager(db.Config{}, st)
	p := hub.Principal{Kind: hub.DeveloperPrincipal, Account: "bdev"}
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewDB(context.Background(), p, id, DBName, nil, nil); err != nil {
		t.Fatal(err)
	}
	files, err := blockstore.OpenFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := New(cfg, m, st, blockstore.New(files))
	return fixture{svc: svc, p: p, thread: id}
}

func (f fixture) create(t testing.TB, name string) Bucket {
	t.Helper()
	b, _, err := f.svc.Create(context.Background(), f.p, f.thread, name, false, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// referenceCID imports data with boxo's importer configured by hand to the
// unixfs-v1-2025 profile, into a throwaway in-memory store.
func referenceCID(t testing.TB, data []byte) cid.Cid {
	t.Helper()
	bs := bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	params := helpers.DagBuilderParams{
		Maxlinks:   1024,
		RawLeaves:  true,
		CidBuilder: cid.V1Builder{Codec: cid.DagProtobuf, MhType: mh.SHA2_256},
		Dagserv:    dag,
	}
	h, err := params.New(chunker.NewSizeSplitter(bytes.NewReader(data), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	nd, err := balanced.Layout(h)
	if err != nil {
		t.Fatal(err)
	}
	return nd.Cid()
}

func TestCreateGetList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b, seed, err := f.svc.Create(ctx, f.p, f.thread, "photos", false, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckKey(b.Key); err != nil {
		t.Fatalf("key %q: %v", b.Key, err)
	}
	if b.Key[0] != 'k' {
		t.Fatalf("key %q is not base36", b.Key)
	}
	if b.Owner != string(f.p.Owner()) || b.Name != "photos" || b.Version != Version || b.CreatedAt == 0 || b.UpdatedAt != b.CreatedAt {
		t.Fatalf("bucket = %+v", b)
	}
	it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if !it.IsDir || it.ItemsCount != 1 || it.Items[0].Name != SeedName || !it.Items[0].Cid.Equals(seed) || it.Items[0].Size != 32 {
		t.Fatalf("root listing = %+v", it)
	}
	got, err := f.svc.Get(ctx, f.p, f.thread, b.Key)
	if err != nil || got.Path != b.Path {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	f.create(t, "second")
	list, err := f.svc.List(ctx, f.p, f.thread)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d buckets, %v", len(list), err)
	}
	l, err := f.svc.Links(ctx, f.p, f.thread, b.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if l.URL != "http://127.0.0.1:8006/thread/"+f.thread.String()+"/buckets/"+b.Key ||
		l.IPNS != "http://127.0.0.1:8006/ipns/"+b.Key || l.WWW != "http://"+b.Key+".buckets.example" {
		t.Fatalf("links = %+v", l)
	}
}

func TestCreateRefuses(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	missing, _ := cid.Decode("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	cases := []struct {
		name    string
		bname   string
		private bool
		boot    cid.Cid
		kind    errors.Kind
	}{
		{"empty name", "", false, cid.Undef, errors.Invalid},
		{"blank name", "   ", false, cid.Undef, errors.Invalid},
		{"unknown bootstrap", "b", false, missing, errors.NotExist},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := f.svc.Create(ctx, f.p, f.thread, c.bname, c.private, c.boot)
			if errors.KindOf(err) != c.kind {
				t.Fatalf("err = %v, want kind %v", err, c.kind)
			}
		})
	}
	if list, _ := f.svc.List(ctx, f.p, f.thread); len(list) != 0 {
		t.Fatalf("refused creates left %d buckets", len(list))
	}
}

func TestPushPullLargeFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "big")
	data := randomBytes(t, 5<<20+12345)
	res, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "dir/sub/big.bin", bytes.NewReader(data), b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if want := referenceCID(t, data); !res.Cid.Equals(want) {
		t.Fatalf("file CID %s, boxo's importer gives %s", res.Cid, want)
	}
	if res.Size != int64(len(data)) || res.Bucket.Path == b.Path {
		t.Fatalf("push result = %+v", res)
	}
	var out bytes.Buffer
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "/dir/sub/big.bin", &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("pulled bytes differ")
	}
	it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "dir/sub/big.bin")
	if err != nil || it.IsDir || it.Size != int64(len(data)) {
		t.Fatalf("ListPath file = %+v, %v", it, err)
	}
	out.Reset()
	if err := f.svc.PullIPFSPath(ctx, res.Bucket.Path+"/dir/sub/big.bin", &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("PullIPFSPath: %v", err)
	}
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "dir", io.Discard); errors.KindOf(err) != errors.Invalid {
		t.Fatalf("pull of a directory: %v, want Invalid", err)
	}
}

func TestPushFastForwardOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "ff")
	r1, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "a.txt", bytes.NewReader([]byte("one")), b.Path)
	if err != nil {
		t.Fatal(err)
	}
	// b.Path is stale now.
	_, err = f.svc.PushPath(ctx, f.p, f.thread, b.Key, "b.txt", bytes.NewReader([]byte("two")), b.Path)
	if errors.KindOf(err) != errors.FailedPrecondition || !bytes.Contains([]byte(err.Error()), []byte(r1.Bucket.Path)) {
		t.Fatalf("stale push: %v, want FailedPrecondition naming %s", err, r1.Bucket.Path)
	}
	_, err = f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "a.txt", b.Path)
	if errors.KindOf(err) != errors.FailedPrecondition {
		t.Fatalf("stale remove: %v", err)
	}
	// Forced (no root) goes through; a bare CID is accepted as a root too.
	r2, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "b.txt", bytes.NewReader([]byte("two")), "")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := r2.Bucket.Root()
	if _, err := f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "a.txt", root.String()); err != nil {
		t.Fatal(err)
	}
}

// failingReader yields n bytes and then an error, like a stream that breaks.
type failingReader struct {
	r io.Reader
}

func (f *failingReader) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func TestBrokenPushLeavesRoot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "broken")
	_, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "x.bin", &failingReader{bytes.NewReader(randomBytes(t, 3<<20))}, b.Path)
	if err == nil {
		t.Fatal("a broken stream was accepted")
	}
	got, err := f.svc.Get(ctx, f.p, f.thread, b.Key)
	if err != nil || got.Path != b.Path {
		t.Fatalf("bucket moved to %s after a broken push (%v)", got.Path, err)
	}
}

func TestConcurrentPushesSerialize(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "conc")
	var wg sync.WaitGroup
	const n = 8
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = f.svc.PushPath(ctx, f.p, f.thread, b.Key, "f"+string(rune('a'+i)), bytes.NewReader([]byte{byte(i)}), "")
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "")
	if err != nil || it.ItemsCount != n+1 {
		t.Fatalf("after %d forced pushes the root has %d entries (%v); a push was lost", n, it.ItemsCount, err)
	}
}

func TestPathOps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "ops")
	push := func(p, s string) {
		t.Helper()
		if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, p, bytes.NewReader([]byte(s)), ""); err != nil {
			t.Fatal(err)
		}
	}
	pull := func(p string) (string, error) {
		var buf bytes.Buffer
		err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, p, &buf)
		return buf.String(), err
	}
	push("a/one.txt", "1")
	push("a/two.txt", "2")
	if _, err := f.svc.MovePath(ctx, f.p, f.thread, b.Key, "a/one.txt", "c/uno.txt"); err != nil {
		t.Fatal(err)
	}
	if s, err := pull("c/uno.txt"); err != nil || s != "1" {
		t.Fatalf("moved file = %q, %v", s, err)
	}
	if _, err := pull("a/one.txt"); errors.KindOf(err) != errors.NotExist {
		t.Fatalf("old path after move: %v", err)
	}
	if _, err := f.svc.MovePath(ctx, f.p, f.thread, b.Key, "a", "a/inner"); errors.KindOf(err) != errors.Invalid {
		t.Fatalf("move into itself: %v", err)
	}
	two, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "a/two.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "d/copy.txt", two.Cid); err != nil {
		t.Fatal(err)
	}
	if s, err := pull("d/copy.txt"); err != nil || s != "2" {
		t.Fatalf("set path = %q, %v", s, err)
	}
	if _, err := f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "a", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := pull("a/two.txt"); errors.KindOf(err) != errors.NotExist {
		t.Fatalf("after removing a: %v", err)
	}
	if _, err := f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "nope", ""); errors.KindOf(err) != errors.NotExist {
		t.Fatalf("remove missing: %v", err)
	}
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "c/uno.txt/under", bytes.NewReader(nil), ""); errors.KindOf(err) != errors.Invalid {
		t.Fatalf("push under a file: %v", err)
	}
	if err := f.svc.Remove(ctx, f.p, f.thread, b.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Get(ctx, f.p, f.thread, b.Key); errors.KindOf(err) != errors.NotExist {
		t.Fatalf("get removed: %v", err)
	}
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "x", bytes.NewReader(nil), ""); errors.KindOf(err) != errors.NotExist {
		t.Fatalf("push to removed bucket: %v", err)
	}
}

func TestManyEntriesShard(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "wide")
	// Each link is ~45 bytes with a 40-byte name: 7000 entries pass the
	// 256 KiB threshold and turn the directory into a HAMT.
	const n = 7000
	nd, err := f.svc.DAG().Get(ctx, mustRoot(b))
	if err != nil {
		t.Fatal(err)
	}
	file, err := Import(ctx, f.svc.DAG(), bytes.NewReader([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadDir("test", f.svc.DAG(), nd, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := string(bytes.Repeat([]byte{'a' + byte(i%26)}, 30)) + string(rune('0'+i%10)) + itoa(i)
		if err := d.AddChild(ctx, name, file); err != nil {
			t.Fatal(err)
		}
	}
	root, err := d.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DAG().Add(ctx, root); err != nil {
		t.Fatal(err)
	}
	if fs, err := unixfs.FSNodeFromBytes(root.(*merkledag.ProtoNode).Data()); err != nil || fs.Type() != unixfs.THAMTShard {
		t.Fatalf("a root of %d entries is not a HAMT shard (%v)", n, err)
	}
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "", root.Cid()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "new.txt", bytes.NewReader([]byte("y")), ""); err != nil {
		t.Fatal(err)
	}
	it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "")
	if err != nil || it.ItemsCount != n+2 {
		t.Fatalf("sharded root has %d entries (%v), want %d", it.ItemsCount, err, n+2)
	}
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

func TestBootstrapAndEmptyFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.create(t, "a")
	r, err := f.svc.PushPath(ctx, f.p, f.thread, a.Key, "docs/empty.txt", bytes.NewReader(nil), a.Path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size != 0 {
		t.Fatalf("empty push size %d", r.Size)
	}
	var out bytes.Buffer
	if err := f.svc.PullPath(ctx, f.p, f.thread, a.Key, "docs/empty.txt", &out); err != nil || out.Len() != 0 {
		t.Fatalf("pull empty = %d bytes, %v", out.Len(), err)
	}
	root, _ := r.Bucket.Root()
	b, _, err := f.svc.Create(ctx, f.p, f.thread, "b", false, root)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "docs/empty.txt", io.Discard); err != nil {
		t.Fatalf("bootstrapped bucket lacks the source's file: %v", err)
	}
	if b.Path == r.Bucket.Path {
		t.Fatal("a bootstrapped bucket has the same root as its source: the seed is missing")
	}
	file, _, err := f.svc.ListPath(ctx, f.p, f.thread, a.Key, "docs/empty.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Create(ctx, f.p, f.thread, "c", false, file.Cid); errors.KindOf(err) != errors.Invalid {
		t.Fatalf("bootstrap from a file: %v, want Invalid", err)
	}
}
