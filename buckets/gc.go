package buckets

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	hubblocks "github.com/selfhub/hub/internal/blockstore"
)

// Garbage collection is mark and sweep over the hub's blockstore: mark
// every block reachable from the recorded root of every bucket (record.go),
// then delete the blocks nothing marked. It reads the hub's records only,
// never a collection: no tenant's code runs in it, and no root a tenant
// wrote through the threads API pins a block. The blockstore's GC wrapper
// (internal/blockstore.GC) makes the sweep safe while buckets keep
// changing: every operation here that writes blocks and links them later
// holds it (Hold, Register) from before its first block until its root is
// written, and every block the service stores, reads or checks goes
// through it, so a cycle keeps what operations in flight touched. A cycle
// waits for the operations that began before it for at most
// Config.GCHoldTimeout, so that one caller who stalls or trickles an
// upload cannot stop collection for every tenant. Reads of CIDs that are
// garbage (an old root by /ipfs/<cid>) may find them gone: that is what
// collecting means.

// DefaultGCHoldTimeout is how long a collection cycle waits for operations
// that began before it: longer than any push whose client keeps sending
// normally takes to commit after its last byte, short enough that a
// stalled one delays collection by little.
const DefaultGCHoldTimeout = time.Minute

// GCStats describes one collection cycle.
type GCStats struct {
	hubblocks.GCStats          // what the cycle did to the blocks
	Roots             int      // bucket roots marked from
	Broken            []string // buckets whose DAG could not be read whole (see mark)
	Sizes             int      // entries of the table of true sizes deleted with their blocks (truesize.go)
	Duration          time.Duration
}

// CollectGarbage runs one collection cycle: it deletes every stored block
// that no bucket's current root reaches. It waits for pushes in flight
// that began before it, for at most Config.GCHoldTimeout; it never deletes
// a block a root reaches, an operation touched during the cycle, or an
// operation it stopped waiting for touched at all. If marking fails (a root's block is
// missing or unreadable) nothing is deleted.
func (s *Service) CollectGarbage(ctx context.Context) (GCStats, error) {
	const op errors.Op = "buckets.CollectGarbage"
	start := time.Now()
	var st GCStats
	blocks, err := s.blocks.Collect(ctx, s.holdTimeout(), func(ctx context.Context, dag ipld.DAGService) (map[string]struct{}, error) {
		moves, settled := s.usageMoves()
		marked, roots, sizes, broken, err := s.mark(ctx, dag)
		if err != nil {
			return nil, err
		}
		s.setUsage(sizes, moves, settled)
		st.Roots, st.Broken = roots, broken
		return marked, nil
	})
	st.GCStats = blocks
	s.dirs.Purge()
	switch {
	case ctx.Err() != nil:
		return st, errors.E(op, errors.Canceled, ctx.Err())
	case err != nil:
		return st, errors.E(op, errors.Internal, err)
	}
	if st.Sizes, err = s.sizes.prune(ctx, s.blocks.Has); err != nil {
		return st, errors.E(op, err)
	}
	st.Duration = time.Since(start)
	return st, nil
}

// holdTimeout is how long a cycle waits for operations in flight.
func (s *Service) holdTimeout() time.Duration {
	if s.cfg.GCHoldTimeout > 0 {
		return s.cfg.GCHoldTimeout
	}
	return DefaultGCHoldTimeout
}

// mark returns the multihashes of every block reachable from the recorded
// root of every bucket, the roots marked from, each account's usage (see
// usage.go) and the buckets whose DAG could not be read whole. Raw leaves
// are marked from their parents' links without being read. It reads
// through dag, which the collector gives it.
//
// A bucket whose DAG misses a block is broken (a damaged disk, or a
// bucket recorded from a store that lacked it): what is below a missing
// block cannot be reached, so the cycle goes on without it rather than
// stopping every collection.
func (s *Service) mark(ctx context.Context, dag ipld.DAGService) (marked map[string]struct{}, roots int, sizes map[hub.PubKey]int64, broken []string, err error) {
	marked = map[string]struct{}{}
	sizes = map[hub.PubKey]int64{}
	// walk marks the DAG under c with an explicit stack: a DAG from a CAR
	// may be a chain deep enough to overflow a recursion.
	walk := func(c cid.Cid) error {
		stack := []cid.Cid{c}
		for len(stack) > 0 {
			c := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if _, seen := marked[string(c.Hash())]; seen {
				continue
			}
			marked[string(c.Hash())] = struct{}{}
			if c.Prefix().Codec == cid.Raw {
				continue
			}
			nd, err := dag.Get(ctx, c)
			if err != nil {
				return err
			}
			for _, l := range nd.Links() {
				stack = append(stack, l.Cid)
			}
		}
		return nil
	}
	err = s.eachRecord(func(key string, r *record) error {
		root, err := cid.Decode(r.Root)
		if err == nil {
			err = walk(root)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			broken = append(broken, fmt.Sprintf("bucket %s in DB %s: %v", key, r.Thread, err))
			return nil
		}
		roots++
		sizes[r.Account] += r.Size
		return nil
	})
	if err != nil && ctx.Err() == nil {
		err = errors.E(errors.Internal, err)
	}
	return marked, roots, sizes, broken, err
}

// RunGC collects garbage every interval until ctx ends, logging through
// report. It is what hubd runs in the background.
func (s *Service) RunGC(ctx context.Context, interval time.Duration, report func(GCStats, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := s.CollectGarbage(ctx)
			if ctx.Err() != nil {
				return
			}
			report(st, err)
		}
	}
}
