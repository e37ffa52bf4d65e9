package buckets

import (
	"context"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// missingBlock is verifyDAG's error for a block the hub does not hold;
// callers say in their own words what the user should send.
type missingBlock struct{ c cid.Cid }

func (m missingBlock) Error() string { return "block " + m.c.String() + " is not in this hub" }

// verifyDAG returns the node at top once every block of the DAG under it is
// stored, with every link recording the true cumulative size of what it
// links to. Usage and quotas count those sizes (usage.go), and every change
// keeps the sizes of the links it does not touch, so a DAG whose links
// claimed less than they hold would store more than its owner is charged
// for, for as long as it stays in the bucket.
//
// Link sizes are advisory in UnixFS, and DAGs made by other tools may
// record other ones (or none, as 0): those are accepted, and the nodes
// that hold wrong sizes are rewritten with the true ones and stored, with
// every ancestor up to top, so the node returned is then not top's but
// its corrected copy (same files, another CID). A DAG with true sizes
// comes back as it is. The sizes of raw blocks come from known (blocks
// the caller has just stored) or the blockstore. A block the hub lacks is
// a missingBlock error.
//
// It walks with an explicit stack (a DAG from a CAR may be a chain deep
// enough to overflow a recursion) and sizes each block once.
func (s *Service) verifyDAG(ctx context.Context, top cid.Cid, known map[cid.Cid]int) (ipld.Node, error) {
	type frame struct {
		c  cid.Cid
		nd ipld.Node // nil until read; then its links are being sized
	}
	var root ipld.Node
	size := map[cid.Cid]uint64{}     // true cumulative size, by CID as the DAG links it
	fixed := map[cid.Cid]ipld.Node{} // corrected copies of nodes whose sizes were wrong, or whose children were corrected
	stack := []frame{{c: top}}
	for len(stack) > 0 {
		i := len(stack) - 1
		c := stack[i].c
		if _, done := size[c]; done {
			stack = stack[:i]
			continue
		}
		if c.Prefix().Codec == cid.Raw && !c.Equals(top) {
			n, ok := known[c]
			if !ok {
				var err error
				if n, err = s.blocks.GetSize(ctx, c); ipld.IsNotFound(err) {
					return nil, missingBlock{c}
				} else if err != nil {
					return nil, errors.E(errors.Internal, err)
				}
			}
			size[c] = uint64(n)
			stack = stack[:i]
			continue
		}
		if stack[i].nd == nil {
			nd, err := s.dag.Get(ctx, c)
			if ipld.IsNotFound(err) {
				return nil, missingBlock{c}
			} else if err != nil {
				return nil, errors.E(errors.Internal, err)
			}
			if root == nil {
				root = nd
			}
			stack[i].nd = nd
			for _, l := range nd.Links() {
				if _, done := size[l.Cid]; !done {
					stack = append(stack, frame{c: l.Cid})
				}
			}
			continue
		}
		nd := stack[i].nd
		stack = stack[:i]
		links, wrong := nd.Links(), false
		for _, l := range links {
			_, moved := fixed[l.Cid]
			wrong = wrong || moved || l.Size != size[l.Cid]
		}
		if wrong {
			var err error
			if nd, err = s.withTrueSizes(ctx, nd, size, fixed); err != nil {
				return nil, err
			}
			fixed[c] = nd
		}
		total := uint64(len(nd.RawData()))
		for _, l := range links {
			if size[l.Cid] > maxDAGSize-total {
				return nil, errors.Errorf("", errors.Invalid, "the DAG under block %s counts more than 2^62 bytes (it links blocks many times over); a bucket cannot hold it", c)
			}
			total += size[l.Cid]
		}
		size[c] = total
	}
	if f, ok := fixed[top]; ok {
		return f, nil
	}
	return root, nil
}

// withTrueSizes returns a copy of dag-pb node nd whose links record the
// true sizes (size) of their targets and point at the corrected copies
// of the targets that have one (fixed), stored in the hub.
func (s *Service) withTrueSizes(ctx context.Context, nd ipld.Node, size map[cid.Cid]uint64, fixed map[cid.Cid]ipld.Node) (ipld.Node, error) {
	pn, ok := nd.(*merkledag.ProtoNode)
	if !ok {
		// Only dag-pb nodes link here (decodeBlock): a raw block has none.
		return nil, errors.Errorf("", errors.Internal, "block %s has links but is not dag-pb", nd.Cid())
	}
	out := make([]*ipld.Link, len(pn.Links()))
	for i, l := range pn.Links() {
		c := l.Cid
		if f, ok := fixed[c]; ok {
			c = f.Cid()
		}
		out[i] = &ipld.Link{Name: l.Name, Size: size[l.Cid], Cid: c}
	}
	cp := pn.Copy().(*merkledag.ProtoNode)
	if err := cp.SetCidBuilder(pn.Cid().Prefix()); err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	if err := cp.SetLinks(out); err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	if err := s.dag.Add(ctx, cp); err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	return cp, nil
}

// maxDAGSize is the most bytes a DAG verifyDAG accepts may count. A DAG
// that links one block many times counts it each time and may claim more
// bytes than a size holds; past this bound it is refused rather than let
// a sum wrap around to a small charge.
const maxDAGSize = 1 << 62
