package buckets

import (
	"context"
	"sync"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// Link sizes are advisory in UnixFS: a dag-pb link records the cumulative
// size of what it links (Tsize), and other tools may record other sizes,
// or 0. A bucket links such a DAG as it is, under the CID its owner gave
// (as kubo does), but charges what its blocks really hold: a DAG whose
// links claimed less than they hold would otherwise store more than its
// owner is charged for, for as long as it stays.
//
// So the hub keeps a table of true sizes (sizeTable), written when a DAG
// from outside is checked (verifyDAG) and only for the nodes that need it:
// every node some link of the DAG records a wrong size for, and every
// node under which such a link lies (tainted). The table makes two facts
// hold for every DAG a bucket links:
//
//   - a node that is not in the table links only true sizes below it, so
//     its Size (its block plus its links' sizes) is true;
//   - a link to a node that is not in the table records its true size.
//
// The bucket's changes keep them: a link to a node in the table records
// the table's size (dirTree.put), and a tainted directory a change goes
// into is replaced by its copy with true sizes first (untaint), since the
// change keeps the sizes of the links beside it. Usage and quotas read a
// root's size through the table (sizeTable.size). Entries are facts
// about a CID and never go stale; garbage collection deletes those whose
// blocks it deleted (prune), so a tenant who imports and removes such DAGs
// over and over does not grow the table.

// sizeEntry is what the table holds for one CID.
type sizeEntry struct {
	Size    uint64 `json:"size"`              // the true cumulative size of the DAG under it
	Tainted bool   `json:"tainted,omitempty"` // some link under it records a wrong size
}

// sizeTable is the hub's table of true sizes, in the store.
type sizeTable struct {
	st *store.Store
	// mu orders record after prune's check that a block is gone: see prune.
	mu sync.Mutex
}

func sizeKey(c cid.Cid) []byte { return store.Key(store.BucketSizes, c.String()) }

// lookup returns c's entry; false when the table has none.
func (t *sizeTable) lookup(c cid.Cid) (sizeEntry, bool, error) {
	var e sizeEntry
	err := t.st.Get(sizeKey(c), &e)
	if errors.KindOf(err) == errors.NotExist {
		return sizeEntry{}, false, nil
	}
	if err != nil {
		return sizeEntry{}, false, errors.E(errors.Internal, err)
	}
	return e, true, nil
}

// record stores entries, synced: before a bucket links the DAG they
// describe, since every later change relies on them.
func (t *sizeTable) record(entries map[cid.Cid]sizeEntry) error {
	if len(entries) == 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.st.NewBatch()
	for c, e := range entries {
		b.Put(sizeKey(c), e)
	}
	if err := b.Commit(); err != nil {
		return errors.E(errors.Internal, err)
	}
	return nil
}

// size returns the true cumulative size of the DAG under nd.
func (t *sizeTable) size(nd ipld.Node) (int64, error) {
	e, ok, err := t.lookup(nd.Cid())
	if err != nil {
		return 0, err
	}
	if ok {
		return int64(e.Size), nil
	}
	n, err := nd.Size()
	if err != nil {
		return 0, errors.E(errors.Internal, err)
	}
	return int64(n), nil
}

// linkable returns nd as a child to link: wrapped so that the link records
// its true size when the table knows another than nd's own Size.
func (t *sizeTable) linkable(nd ipld.Node) (ipld.Node, error) {
	e, ok, err := t.lookup(nd.Cid())
	if err != nil || !ok {
		return nd, err
	}
	return sized{nd, e.Size}, nil
}

// prune deletes the entries of the CIDs whose blocks has no longer holds,
// and returns how many. It runs after a garbage collection. Every entry is
// recorded after its block is stored (verifyDAG reads the DAG first), and
// mu spans each check and deletion, so an entry recorded for a block
// stored again after the check waits for the deletion and survives it.
func (t *sizeTable) prune(ctx context.Context, has func(context.Context, cid.Cid) (bool, error)) (int, error) {
	var all []cid.Cid
	prefix := store.Key(store.BucketSizes, "")
	err := t.st.Scan(prefix, func(k, _ []byte) error {
		c, err := cid.Decode(string(k[len(prefix):]))
		if err != nil {
			return err
		}
		all = append(all, c)
		return nil
	})
	if err != nil {
		return 0, errors.E(errors.Internal, err)
	}
	n := 0
	for _, c := range all {
		if err := ctx.Err(); err != nil {
			return n, errors.E(errors.Canceled, err)
		}
		gone, err := t.deleteIfGone(ctx, c, has)
		if err != nil {
			return n, err
		}
		if gone {
			n++
		}
	}
	return n, nil
}

// deleteIfGone deletes c's entry if has says its block is gone.
func (t *sizeTable) deleteIfGone(ctx context.Context, c cid.Cid, has func(context.Context, cid.Cid) (bool, error)) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ok, err := has(ctx, c); err != nil || ok {
		return false, err
	}
	b := t.st.NewBatch()
	b.Delete(sizeKey(c))
	if err := b.Commit(); err != nil {
		return false, errors.E(errors.Internal, err)
	}
	return true, nil
}

// sized is a node whose Size is its true one; the directories a change
// builds make their links from Size (ipld.MakeLink).
type sized struct {
	ipld.Node
	size uint64
}

func (s sized) Size() (uint64, error) { return s.size, nil }

// untaint returns nd itself unless it is tainted, and else its copy in
// which every link below records its true size, stored in dag: the nodes on the
// way to each wrong link are rewritten, the rest of the DAG is linked as
// it is. It reads only the tainted nodes, with an explicit stack (a DAG
// from a CAR may be a chain deep enough to overflow a recursion).
func (t *sizeTable) untaint(ctx context.Context, dag ipld.DAGService, nd ipld.Node) (ipld.Node, error) {
	type frame struct {
		nd   ipld.Node
		open bool // its tainted children are being rewritten
	}
	tainted := func(c cid.Cid) (bool, error) {
		e, ok, err := t.lookup(c)
		return ok && e.Tainted, err
	}
	if bad, err := tainted(nd.Cid()); err != nil || !bad {
		return nd, err
	}
	done := map[cid.Cid]ipld.Node{} // copies, by the CID they replace
	stack := []frame{{nd: nd}}
	for len(stack) > 0 {
		i := len(stack) - 1
		f := stack[i]
		if _, ok := done[f.nd.Cid()]; ok {
			stack = stack[:i]
			continue
		}
		if !f.open {
			stack[i].open = true
			for _, l := range f.nd.Links() {
				if _, ok := done[l.Cid]; ok {
					continue
				}
				bad, err := tainted(l.Cid)
				if err != nil {
					return nil, err
				}
				if !bad {
					continue
				}
				child, err := dag.Get(ctx, l.Cid)
				if err != nil {
					return nil, errors.E(errors.Internal, err)
				}
				stack = append(stack, frame{nd: child})
			}
			continue
		}
		stack = stack[:i]
		cp, err := t.withTrueSizes(ctx, dag, f.nd, done)
		if err != nil {
			return nil, err
		}
		done[f.nd.Cid()] = cp
	}
	return done[nd.Cid()], nil
}

// withTrueSizes returns a copy of dag-pb node nd whose links record the
// true sizes of their targets (from the table, else as recorded, which
// is then true) and point at the copies of the targets that have one
// (fixed), stored in dag.
func (t *sizeTable) withTrueSizes(ctx context.Context, dag ipld.DAGService, nd ipld.Node, fixed map[cid.Cid]ipld.Node) (ipld.Node, error) {
	pn, ok := nd.(*merkledag.ProtoNode)
	if !ok {
		// Only dag-pb nodes link here (decodeBlock): a raw block has none.
		return nil, errors.Errorf("", errors.Internal, "block %s has links but is not dag-pb", nd.Cid())
	}
	out := make([]*ipld.Link, len(pn.Links()))
	for i, l := range pn.Links() {
		size, c := l.Size, l.Cid
		e, ok, err := t.lookup(l.Cid)
		if err != nil {
			return nil, err
		}
		if ok {
			size = e.Size
		}
		if f, ok := fixed[l.Cid]; ok {
			// The copy links true sizes, so its Size is true; it differs
			// from the original's, whose links encode other numbers.
			if size, err = f.Size(); err != nil {
				return nil, errors.E(errors.Internal, err)
			}
			c = f.Cid()
		}
		out[i] = &ipld.Link{Name: l.Name, Size: size, Cid: c}
	}
	cp := pn.Copy().(*merkledag.ProtoNode)
	if err := cp.SetCidBuilder(pn.Cid().Prefix()); err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	if err := cp.SetLinks(out); err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	if err := dag.Add(ctx, cp); err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	return cp, nil
}
