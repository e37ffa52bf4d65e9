package buckets

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"sync"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
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

// TestPullIPFSPath reads a bucket's file by its /ipfs/ path, as the
// gateway does. The bucket operations themselves are in bucketstest,
// which TestConformance runs.
func TestPullIPFSPath(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "ipfs")
	data := randomBytes(t, 1<<20+1)
	res, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "dir/f.bin", bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := f.svc.PullIPFSPath(ctx, res.Bucket.Path+"/dir/f.bin", &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("PullIPFSPath: %v (equal %v)", err, bytes.Equal(out.Bytes(), data))
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

func TestManyEntriesShard(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "wide")
	// Each link is ~45 bytes with a 40-byte name: 7000 entries pass the
	// 256 KiB threshold and turn the directory into a HAMT.
	const n = 7000
	nd, err := f.svc.dag.Get(ctx, mustRoot(b))
	if err != nil {
		t.Fatal(err)
	}
	file, err := Import(ctx, f.svc.dag, bytes.NewReader([]byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadDir("test", f.svc.dag, nd, "")
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
	if err := f.svc.dag.Add(ctx, root); err != nil {
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
