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
// stored and every link records the true cumulative size of what it links
// to. Usage and quotas count those sizes (usage.go), so a DAG whose links
// claim less than they hold (a crafted CAR) would store more than its owner
// is charged for. The sizes of raw blocks come from known (blocks the
// caller has just stored) or the blockstore. A block the hub lacks is a
// missingBlock error; wrong sizes are Invalid.
//
// It walks with an explicit stack (a DAG from a CAR may be a chain deep
// enough to overflow a recursion) and sizes each block once.
func (s *Service) verifyDAG(ctx context.Context, top cid.Cid, known map[cid.Cid]int) (ipld.Node, error) {
	type frame struct {
		c  cid.Cid
		nd ipld.Node // nil until read; then its links are being sized
	}
	var root ipld.Node
	size := map[cid.Cid]uint64{}
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
		total := uint64(len(nd.RawData()))
		for _, l := range nd.Links() {
			if l.Size != size[l.Cid] {
				return nil, errors.Errorf("", errors.Invalid,
					"block %s links %s as %d bytes, but the DAG under it holds %d: the DAG's link sizes are wrong; build it with a UnixFS importer", c, l.Cid, l.Size, size[l.Cid])
			}
			total += l.Size
		}
		size[c] = total
		stack = stack[:i]
	}
	return root, nil
}
