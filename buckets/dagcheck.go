package buckets

import (
	"context"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// missingBlock is verifyDAG's error for a block the hub does not hold;
// callers say in their own words what the user should send.
type missingBlock struct{ c cid.Cid }

func (m missingBlock) Error() string { return "block " + m.c.String() + " is not in this hub" }

// verifyDAG returns the node at top once every block of the DAG under it is
// stored, after recording in the table of true sizes (truesize.go) the
// nodes of the DAG whose links record sizes other than the true ones, or
// that such links lead to. The DAG itself is not changed: a bucket links
// it as it is, and its size is read through the table. The sizes of raw
// blocks come from known (blocks the caller has just stored) or the
// blockstore, never from the links that claim them. A block the hub lacks
// is a missingBlock error.
//
// It walks with an explicit stack (a DAG from a CAR may be a chain deep
// enough to overflow a recursion) and sizes each block once.
func (s *Service) verifyDAG(ctx context.Context, top cid.Cid, known map[cid.Cid]int) (ipld.Node, error) {
	type frame struct {
		c  cid.Cid
		nd ipld.Node // nil until read; then its links are being sized
	}
	var root ipld.Node
	size := map[cid.Cid]uint64{}  // true cumulative size, by CID
	tainted := map[cid.Cid]bool{} // a link under it records a wrong size
	lied := map[cid.Cid]bool{}    // some link records a wrong size for it
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
		total := uint64(len(nd.RawData()))
		for _, l := range nd.Links() {
			if l.Size != size[l.Cid] {
				lied[l.Cid], tainted[c] = true, true
			}
			tainted[c] = tainted[c] || tainted[l.Cid]
			if size[l.Cid] > maxDAGSize-total {
				return nil, errors.Errorf("", errors.Invalid, "the DAG under block %s counts more than 2^62 bytes (it links blocks many times over); a bucket cannot hold it", c)
			}
			total += size[l.Cid]
		}
		size[c] = total
	}
	entries := map[cid.Cid]sizeEntry{}
	for c, t := range tainted {
		if t {
			entries[c] = sizeEntry{Size: size[c], Tainted: true}
		}
	}
	for c := range lied {
		entries[c] = sizeEntry{Size: size[c], Tainted: tainted[c]}
	}
	if err := s.sizes.record(entries); err != nil {
		return nil, err
	}
	return root, nil
}

// maxDAGSize is the most bytes a DAG verifyDAG accepts may count. A DAG
// that links one block many times counts it each time and may claim more
// bytes than a size holds; past this bound it is refused rather than let
// a sum wrap around to a small charge.
const maxDAGSize = 1 << 62
