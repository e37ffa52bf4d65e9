package buckets

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	ipld "github.com/ipfs/go-ipld-format"
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

// TestWrongLinkSizesCorrected links DAGs whose links claim less than they
// hold. Linked as they are, the owner would store a megabyte while
// charged for bytes, for as long as they stay; so the bucket links copies
// with the true sizes, the same files under the CIDs their honest forms
// have, and is charged for the megabyte, also after a change inside.
func TestWrongLinkSizesCorrected(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "sizes")
	w := newWrongSizes(t, f.svc.dag)
	stored := func() int64 {
		n, err := f.svc.StoredBytes(ctx, f.p.Account)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := stored()
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "file.bin", w.lyingFile.Cid()); err != nil {
		t.Fatalf("SetPath of a file with a wrong link size: %v", err)
	}
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "dir", w.lyingDir.Cid()); err != nil {
		t.Fatalf("SetPath of a directory with wrong link sizes: %v", err)
	}
	for path, want := range map[string]ipld.Node{"file.bin": w.honestFile, "dir": w.honestDir, "dir/f.bin": w.honestFile} {
		it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, path)
		if err != nil {
			t.Fatal(err)
		}
		if !it.Cid.Equals(want.Cid()) {
			t.Errorf("%s is %s; want the copy with true sizes, %s", path, it.Cid, want.Cid())
		}
	}
	if grown := stored() - before; grown < 2<<20 {
		t.Fatalf("two 1 MiB files linked, and the account is charged %d bytes more", grown)
	}
	// A change inside the directory keeps the true sizes of what it holds.
	charged := stored()
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "dir/small.txt", strings.NewReader("small"), ""); err != nil {
		t.Fatal(err)
	}
	if now := stored(); now < charged {
		t.Fatalf("after a push into the directory the account is charged %d bytes, less than the %d before", now, charged)
	}
	var got bytes.Buffer
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "dir/f.bin", &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), w.leaf.RawData()) {
		t.Fatalf("dir/f.bin reads %d bytes, not the file's", got.Len())
	}
}
