package buckets

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// wrongSizes is a DAG whose links record other sizes than the true ones,
// as other tools may write them, beside the same DAG with true sizes:
// a file whose node claims its 1 MiB leaf is 1 byte, in a directory that
// records 0 for it (as the conformance suite's inside-root fixture does).
type wrongSizes struct {
	leaf                  ipld.Node
	lyingFile, honestFile ipld.Node
	lyingDir, honestDir   ipld.Node
}

func newWrongSizes(t *testing.T, dag ipld.DAGService) wrongSizes {
	t.Helper()
	w := wrongSizes{leaf: merkledag.NewRawNode(randomBytes(t, 1<<20))}
	file := func(claimed uint64) ipld.Node {
		fs := unixfs.NewFSNode(unixfs.TFile)
		fs.AddBlockSize(uint64(len(w.leaf.RawData())))
		data, err := fs.GetBytes()
		if err != nil {
			t.Fatal(err)
		}
		nd := merkledag.NodeWithData(data)
		nd.SetCidBuilder(profileOf(dag).CidBuilder())
		if err := nd.AddRawLink("", &ipld.Link{Cid: w.leaf.Cid(), Size: claimed}); err != nil {
			t.Fatal(err)
		}
		return nd
	}
	dir := func(f ipld.Node, claimed uint64) ipld.Node {
		nd := unixfs.EmptyDirNode()
		nd.SetCidBuilder(profileOf(dag).CidBuilder())
		if err := nd.AddRawLink("f.bin", &ipld.Link{Cid: f.Cid(), Size: claimed}); err != nil {
			t.Fatal(err)
		}
		return nd
	}
	w.lyingFile, w.honestFile = file(1), file(uint64(len(w.leaf.RawData())))
	honestSize, err := w.honestFile.Size()
	if err != nil {
		t.Fatal(err)
	}
	w.lyingDir, w.honestDir = dir(w.lyingFile, 0), dir(w.honestFile, honestSize)
	if err := dag.AddMany(context.Background(), []ipld.Node{w.leaf, w.lyingFile, w.lyingDir}); err != nil {
		t.Fatal(err)
	}
	return w
}

// realBytes is what the DAG under c holds, read block by block: every
// block's bytes, once per link to it, whatever sizes the links record.
func realBytes(t *testing.T, dag ipld.DAGService, c cid.Cid) int64 {
	t.Helper()
	var n int64
	stack := []cid.Cid{c}
	for len(stack) > 0 {
		nd, err := dag.Get(context.Background(), stack[len(stack)-1])
		if err != nil {
			t.Fatal(err)
		}
		stack = stack[:len(stack)-1]
		n += int64(len(nd.RawData()))
		for _, l := range nd.Links() {
			stack = append(stack, l.Cid)
		}
	}
	return n
}

// TestWrongLinkSizes links DAGs whose links claim less than they hold, as
// other tools write them: the bucket links them under their own CIDs, as
// kubo does, and the account is charged what their blocks really hold,
// also after changes inside them, which keep the sizes of the links
// beside them.
func TestWrongLinkSizes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b := f.create(t, "sizes")
	w := newWrongSizes(t, f.svc.dag)
	charged := func(when string) { t.Helper(); checkCharged(t, f, b.Key, when) }
	at := func(path string) Item {
		t.Helper()
		it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, path)
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "file.bin", w.lyingFile.Cid()); err != nil {
		t.Fatalf("SetPath of a file with a wrong link size: %v", err)
	}
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "dir", w.lyingDir.Cid()); err != nil {
		t.Fatalf("SetPath of a directory with wrong link sizes: %v", err)
	}
	for path, want := range map[string]ipld.Node{"file.bin": w.lyingFile, "dir": w.lyingDir, "dir/f.bin": w.lyingFile} {
		if it := at(path); !it.Cid.Equals(want.Cid()) {
			t.Errorf("%s is %s; want the DAG as it was given, %s", path, it.Cid, want.Cid())
		}
	}
	if it := at("dir"); it.Size != realBytes(t, f.svc.dag, w.lyingDir.Cid()) {
		t.Errorf("dir lists %d bytes; it holds %d", it.Size, realBytes(t, f.svc.dag, w.lyingDir.Cid()))
	}
	charged("linked")

	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "dir/small.txt", strings.NewReader("small"), ""); err != nil {
		t.Fatal(err)
	}
	charged("after a push into the directory")
	if _, err := f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "dir/small.txt", ""); err != nil {
		t.Fatal(err)
	}
	charged("after a removal from it")
	if it := at("dir"); !it.Cid.Equals(w.honestDir.Cid()) {
		t.Errorf("changed and changed back, dir is %s; want the same files with true sizes, %s", it.Cid, w.honestDir.Cid())
	}
	var got bytes.Buffer
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "dir/f.bin", &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), w.leaf.RawData()) {
		t.Fatalf("dir/f.bin reads %d bytes, not the file's", got.Len())
	}

	// A CAR of the DAG replacing the root: the bucket is at the CAR's root.
	car := carSource{dag: f.svc.dag}.carV1(t, []cid.Cid{w.lyingDir.Cid()}, []cid.Cid{w.lyingDir.Cid(), w.lyingFile.Cid(), w.leaf.Cid()}, nil)
	res, err := f.svc.ImportCAR(ctx, f.p, f.thread, b.Key, "", "", cid.Undef, bytes.NewReader(car))
	if err != nil {
		t.Fatalf("ImportCAR of a DAG with wrong link sizes: %v", err)
	}
	if !res.Cid.Equals(w.lyingDir.Cid()) || res.Bucket.Path != "/ipfs/"+w.lyingDir.Cid().String() {
		t.Fatalf("ImportCAR linked %s, the bucket is at %s; want the CAR's root %s", res.Cid, res.Bucket.Path, w.lyingDir.Cid())
	}
	want := int64(len(w.lyingDir.RawData()) + len(w.lyingFile.RawData()) + len(w.leaf.RawData()))
	if n, err := f.svc.StoredBytes(ctx, f.p.Account); err != nil || n != want {
		t.Errorf("the bucket holds the CAR's three blocks, %d bytes; the account is charged %d (%v)", want, n, err)
	}
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "small.txt", strings.NewReader("small"), ""); err != nil {
		t.Fatal(err)
	}
	charged("after a push into the CAR's root")
}

// checkCharged checks that the account of f (whose only bucket is key) is
// charged the bucket's real bytes, and that the bucket's root links only
// true sizes, as a peer that trusts them would read them.
func checkCharged(t *testing.T, f fixture, key, when string) {
	t.Helper()
	ctx := context.Background()
	got, err := f.svc.Get(ctx, f.p, f.thread, key)
	if err != nil {
		t.Fatal(err)
	}
	root := mustRoot(got)
	want := realBytes(t, f.svc.dag, root)
	if n, err := f.svc.StoredBytes(ctx, f.p.Account); err != nil || n != want {
		t.Errorf("%s: the account is charged %d bytes (%v); its bucket holds %d", when, n, err, want)
	}
	nd, err := f.svc.dag.Get(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := nd.Size(); int64(n) != want {
		t.Errorf("%s: the root's links record %d bytes; it holds %d", when, n, want)
	}
}

// TestWrongLinkSizesHAMT links a sharded directory whose shards record
// the sizes its files claim, a byte for a megabyte each: a push into it
// rewrites the shards on its way with true sizes, and the account is
// charged what the bucket holds before and after.
func TestWrongLinkSizesHAMT(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b := f.create(t, "sharded")
	w := newWrongSizes(t, f.svc.dag)
	d, err := uio.NewHAMTDirectory(f.svc.dag, 0, uio.WithMaxHAMTFanout(8), uio.WithCidBuilder(profileOf(f.svc.dag).CidBuilder()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := d.AddChild(ctx, fmt.Sprintf("f%02d.bin", i), w.lyingFile); err != nil {
			t.Fatal(err)
		}
	}
	nd, err := d.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.dag.Add(ctx, nd); err != nil {
		t.Fatal(err)
	}
	if len(nd.Links()) == 20 {
		t.Fatal("the directory has no sub-shards; the test needs some")
	}
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "h", nd.Cid()); err != nil {
		t.Fatal(err)
	}
	if it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "h"); err != nil || !it.Cid.Equals(nd.Cid()) {
		t.Fatalf("h is %s (%v); want the directory as given, %s", it.Cid, err, nd.Cid())
	}
	checkCharged(t, f, b.Key, "linked")
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "h/new.txt", strings.NewReader("new"), ""); err != nil {
		t.Fatal(err)
	}
	checkCharged(t, f, b.Key, "after a push into the sharded directory")
	var got bytes.Buffer
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "h/f07.bin", &got); err != nil || !bytes.Equal(got.Bytes(), w.leaf.RawData()) {
		t.Fatalf("h/f07.bin reads %d bytes (%v), not the file's", got.Len(), err)
	}
}

// TestWrongLinkSizesQuota checks the quota against what a DAG really
// holds: a directory whose blocks the hub holds already, whose links
// claim a few bytes for a megabyte, is refused to an account with half a
// megabyte left, linked by CID or imported in a CAR of one small block.
func TestWrongLinkSizesQuota(t *testing.T) {
	ctx := context.Background()
	f := newFixtureConfig(t, Config{Quota: 512 << 10})
	b := f.create(t, "sizes")
	w := newWrongSizes(t, f.svc.dag)
	claimed, err := w.lyingDir.Size()
	if err != nil || claimed > 512<<10 {
		t.Fatalf("the directory's links claim %d bytes (%v); the test needs a claim below the quota", claimed, err)
	}
	before, err := f.svc.StoredBytes(ctx, f.p.Account)
	if err != nil {
		t.Fatal(err)
	}
	car := carSource{dag: f.svc.dag}.carV1(t, []cid.Cid{w.lyingDir.Cid()}, []cid.Cid{w.lyingDir.Cid()}, nil)
	for name, link := range map[string]func() error{
		"SetPath": func() error {
			_, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "dir", w.lyingDir.Cid())
			return err
		},
		"ImportCAR": func() error {
			_, err := f.svc.ImportCAR(ctx, f.p, f.thread, b.Key, "dir", "", cid.Undef, bytes.NewReader(car))
			return err
		},
	} {
		if err := link(); !errors.Is(errors.Exhausted, err) {
			t.Errorf("%s of a megabyte whose links claim %d bytes, past the quota: %v; want Exhausted", name, claimed, err)
		}
		if n, err := f.svc.StoredBytes(ctx, f.p.Account); err != nil || n != before {
			t.Errorf("after the refused %s the account is charged %d bytes (%v); want %d", name, n, err, before)
		}
	}
}

// TestWrongLinkSizesPruned checks that the true sizes the hub recorded for
// a DAG stay while a bucket links it and go with its blocks.
func TestWrongLinkSizesPruned(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	b := f.create(t, "sizes")
	w := newWrongSizes(t, f.svc.dag)
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "dir", w.lyingDir.Cid()); err != nil {
		t.Fatal(err)
	}
	recorded := func() int {
		t.Helper()
		n := 0
		for _, nd := range []ipld.Node{w.lyingDir, w.lyingFile, w.leaf} {
			_, ok, err := f.svc.sizes.lookup(nd.Cid())
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				n++
			}
		}
		return n
	}
	if n := recorded(); n != 3 {
		t.Fatalf("%d of the directory, the file and the leaf it lies about have true sizes recorded; want 3", n)
	}
	st, err := f.svc.CollectGarbage(ctx)
	if err != nil || st.Sizes != 0 || recorded() != 3 {
		t.Fatalf("a collection while the bucket links the DAG deleted %d entries (%v), %d left; want none deleted", st.Sizes, err, recorded())
	}
	if _, err := f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "dir", ""); err != nil {
		t.Fatal(err)
	}
	st, err = f.svc.CollectGarbage(ctx)
	if err != nil || st.Sizes != 3 || recorded() != 0 {
		t.Fatalf("a collection after the DAG was removed deleted %d entries (%v), %d left; want the 3 deleted", st.Sizes, err, recorded())
	}
}
