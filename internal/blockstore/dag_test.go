package blockstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
)

// damaged fails every read of one block with DataLoss, as the S3 store
// does for an object that does not match its name.
type damaged struct {
	bstore.Blockstore
	bad cid.Cid
}

func (d damaged) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	const op errors.Op = "damaged.Get"
	if c.Equals(d.bad) {
		return nil, errors.Errorf(op, errors.DataLoss, "block %s is damaged", c)
	}
	return d.Blockstore.Get(ctx, c)
}

// GetMany reads every node, in parallel, and reports a store's error as
// the store gave it, not as a missing node.
func TestDAGGetMany(t *testing.T) {
	ctx := context.Background()
	f, err := OpenFiles(filepath.Join(t.TempDir(), "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	bs := New(f)
	var cids []cid.Cid
	for i := range 3 * readAhead {
		nd := merkledag.NodeWithData([]byte(fmt.Sprint("node ", i)))
		if err := bs.Put(ctx, nd); err != nil {
			t.Fatal(err)
		}
		cids = append(cids, nd.Cid())
	}
	got := map[cid.Cid]bool{}
	for o := range NewDAGService(bs).GetMany(ctx, cids) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		got[o.Node.Cid()] = true
	}
	if len(got) != len(cids) {
		t.Fatalf("GetMany gave %d nodes, want %d", len(got), len(cids))
	}
	var errs []error
	for o := range NewDAGService(damaged{bs, cids[readAhead+1]}).GetMany(ctx, cids) {
		if o.Err != nil {
			errs = append(errs, o.Err)
		}
	}
	if len(errs) != 1 || !errors.Is(errors.DataLoss, errs[0]) {
		t.Fatalf("GetMany over a damaged block: errors %v, want one DataLoss", errs)
	}
}
