package buckets

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// cachedNodes returns the nodes the service's directory cache holds.
func cachedNodes(f fixture) []*merkledag.ProtoNode {
	f.svc.dirs.mu.Lock()
	defer f.svc.dirs.mu.Unlock()
	var nds []*merkledag.ProtoNode
	for _, e := range f.svc.dirs.lru.Values() {
		nds = append(nds, e.nd)
	}
	return nds
}

// TestDirCacheBound: however many directories pass through it, the cache
// holds at most its budget, counted as its entries' costs.
func TestDirCacheBound(t *testing.T) {
	const budget = 8 << 10
	f := newFixtureConfig(t, Config{DirCacheSize: budget})
	b := f.create(t, "bound")
	for i := range 40 {
		f.push(t, f.p, b.Key, fmt.Sprintf("d%02d/sub/f%02d", i, i), []byte("x"))
	}
	for i := range 40 {
		f.pull(t, f.p, b.Key, fmt.Sprintf("d%02d/sub/f%02d", i, i))
	}
	c := f.svc.dirs
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	for _, e := range c.lru.Values() {
		sum += e.cost
	}
	if sum != c.size || c.size > budget || c.size == 0 {
		t.Fatalf("cache holds %d bytes (entries sum to %d) against a budget of %d", c.size, sum, budget)
	}
	if c.lru.Len() >= 40 {
		t.Fatalf("cache kept all %d directories within %d bytes", c.lru.Len(), budget)
	}
}

// TestDirCacheEqualsUncached: the same changes give the same roots and
// the same listings and contents with the cache as without it, and a
// node the cache hands out can be changed without changing what it
// hands out next.
func TestDirCacheEqualsUncached(t *testing.T) {
	ctx := context.Background()
	cached, plain := newFixtureConfig(t, Config{}), newFixtureConfig(t, Config{DirCacheSize: -1})
	if cached.svc.dirs.max <= 0 || plain.svc.dirs.max > 0 {
		t.Fatal("fixtures do not differ in caching")
	}
	// Roots differ by the random seed file each bucket gets; the
	// directories below compare by CID.
	run := func(f fixture) (root string, list []string, data [][]byte) {
		b := f.create(t, "same")
		for i := range 300 {
			f.push(t, f.p, b.Key, fmt.Sprintf("obj/%05d", i), []byte(fmt.Sprint("object ", i)))
		}
		if _, err := f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "obj/00007", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.MovePath(ctx, f.p, f.thread, b.Key, "obj/00008", "moved/8"); err != nil {
			t.Fatal(err)
		}
		it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "obj")
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, it.Cid.String())
		for _, item := range it.Items {
			list = append(list, item.Name+" "+item.Cid.String())
		}
		moved, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "moved")
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, moved.Cid.String())
		for _, p := range []string{"obj/00000", "obj/00299", "moved/8"} {
			data = append(data, f.pull(t, f.p, b.Key, p))
		}
		if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "obj/00007", io.Discard); !errors.Is(errors.NotExist, err) {
			t.Fatalf("removed key: %v", err)
		}
		cur, err := f.svc.Get(ctx, f.p, f.thread, b.Key)
		if err != nil {
			t.Fatal(err)
		}
		return cur.Path, list, data
	}
	r1, l1, d1 := run(cached)
	_, l2, d2 := run(plain)
	if len(l1) != 300 || len(l2) != len(l1) || fmt.Sprint(d1) != fmt.Sprint(d2) {
		t.Fatalf("cached and uncached differ: %d and %d entries, contents %q and %q", len(l1), len(l2), d1, d2)
	}
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("cached and uncached differ at %d: %s and %s", i, l1[i], l2[i])
		}
	}
	if len(cachedNodes(cached)) == 0 {
		t.Fatal("the cache holds nothing after 300 pushes")
	}

	// What Get hands out is a copy: changing it leaves the cache as it was.
	root, _ := parseRoot(r1)
	obj, err := resolve(ctx, cached.svc.dag, root, []string{"obj"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := cached.svc.dag.Get(ctx, obj.Cid())
	if err != nil {
		t.Fatal(err)
	}
	if err := again.(*merkledag.ProtoNode).RemoveNodeLink("00000"); err != nil {
		t.Fatal(err)
	}
	third, err := cached.svc.dag.Get(ctx, obj.Cid())
	if err != nil {
		t.Fatal(err)
	}
	if !third.Cid().Equals(obj.Cid()) || !bytes.Equal(third.RawData(), obj.RawData()) {
		t.Fatal("changing a node from the cache changed the cache")
	}
}

// TestDirCacheSkipsUnsortedAndCollected: a directory whose stored links
// are not sorted is not cached (its copy would encode to another CID),
// and a cached directory whose block is gone is not served.
func TestDirCacheSkipsUnsortedAndCollected(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c := f.svc.dirs
	leaf := merkledag.NodeWithData(ft.FilePBData([]byte("x"), 1))
	if err := c.Add(ctx, leaf); err != nil {
		t.Fatal(err)
	}
	if c.lru.Len() != 0 {
		t.Fatal("a file node was cached")
	}
	dir := ft.EmptyDirNode()
	for _, name := range []string{"a", "b"} {
		if err := dir.AddNodeLink(name, leaf); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Add(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if !c.lru.Contains(dir.Cid()) {
		t.Fatal("a directory with sorted links was not cached")
	}
	if err := c.DAGService.Remove(ctx, dir.Cid()); err != nil { // as the collector deletes: not through the cache
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, dir.Cid()); !ipld.IsNotFound(err) {
		t.Fatalf("a deleted directory was served from the cache: %v", err)
	}

	// Links out of order, as another encoder may write them.
	links := dir.Links()
	unsorted, err := merkledag.DecodeProtobuf(unsortedDir(t, links[1], links[0]))
	if err != nil {
		t.Fatal(err)
	}
	if cacheable(unsorted) {
		t.Fatal("a directory with unsorted links counts as cacheable")
	}
}

// unsortedDir encodes a directory node whose links come in the given
// order, as dag-pb allows.
func unsortedDir(t *testing.T, links ...*ipld.Link) []byte {
	t.Helper()
	var b []byte
	for _, l := range links {
		var pbl []byte
		pbl = appendField(pbl, 1, l.Cid.Bytes())
		pbl = appendField(pbl, 2, []byte(l.Name))
		b = appendField(b, 2, pbl)
	}
	return appendField(b, 1, ft.FolderPBData())
}

// appendField appends a length-delimited protobuf field.
func appendField(b []byte, num int, v []byte) []byte {
	b = append(b, byte(num<<3|2))
	n := len(v)
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(append(b, byte(n)), v...)
}

// TestDirCachePrivate: with a private bucket's directories cached by the
// owner's reads, a user without a role still gets Permission, and the
// cache holds only encrypted names.
func TestDirCachePrivate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b := f.createPrivate(t, "vault")
	f.push(t, f.p, b.Key, marker+"/dir/"+marker, []byte("secret "+marker))
	f.push(t, f.p, b.Key, marker+"/dir/other", []byte("other"))
	if got := f.pull(t, f.p, b.Key, marker+"/dir/"+marker); string(got) != "secret "+marker {
		t.Fatalf("owner pulled %q", got)
	}
	if _, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, marker+"/dir"); err != nil {
		t.Fatal(err)
	}
	nds := cachedNodes(f)
	if len(nds) == 0 {
		t.Fatal("the owner's reads cached no directory")
	}
	for _, nd := range nds {
		for _, l := range nd.Links() {
			if bytes.Contains([]byte(l.Name), []byte(marker)) {
				t.Fatalf("the cache holds the plaintext name %q", l.Name)
			}
		}
	}
	stranger := newUser(t, f.p.Account)
	for _, p := range []string{marker + "/dir/" + marker, marker + "/dir/other"} {
		if err := f.svc.PullPath(ctx, stranger, f.thread, b.Key, p, io.Discard); !errors.Is(errors.Permission, err) {
			t.Fatalf("a user without a role pulled %s from a warm cache: %v", p, err)
		}
	}
	if _, _, err := f.svc.ListPath(ctx, stranger, f.thread, b.Key, marker+"/dir"); !errors.Is(errors.Permission, err) {
		t.Fatalf("a user without a role listed a warm directory: %v", err)
	}
}
