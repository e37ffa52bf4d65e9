package buckets

import (
	"context"
	"strings"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// TestLinkSizesMustBeTrue links a DAG whose file node claims its 1 MiB
// leaf is 1 byte: accepted, the owner would store a megabyte while charged
// for bytes. SetPath refuses it; the same DAG with true sizes goes in.
func TestLinkSizesMustBeTrue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "sizes")
	leaf := merkledag.NewRawNode(randomBytes(t, 1<<20))
	file := func(claimed uint64) ipld.Node {
		fs := unixfs.NewFSNode(unixfs.TFile)
		fs.AddBlockSize(uint64(len(leaf.RawData())))
		data, err := fs.GetBytes()
		if err != nil {
			t.Fatal(err)
		}
		nd := merkledag.NodeWithData(data)
		nd.SetCidBuilder(profileOf(f.svc.dag).CidBuilder())
		if err := nd.AddRawLink("", &ipld.Link{Cid: leaf.Cid(), Size: claimed}); err != nil {
			t.Fatal(err)
		}
		return nd
	}
	lying, honest := file(1), file(uint64(len(leaf.RawData())))
	if err := f.svc.dag.AddMany(ctx, []ipld.Node{leaf, lying, honest}); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "lying.bin", lying.Cid())
	if !errors.Is(errors.Invalid, err) || !strings.Contains(err.Error(), "link sizes are wrong") {
		t.Fatalf("SetPath of a DAG with a false link size: %v; want Invalid naming the sizes", err)
	}
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "honest.bin", honest.Cid()); err != nil {
		t.Fatalf("SetPath of the same DAG with true sizes: %v", err)
	}
}
