package buckets

import (
	"context"
	"fmt"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs/boxo/blockstore"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// Garbage collection is mark and sweep over the hub's blockstore: mark
// every block reachable from the current root of every bucket in every DB,
// then delete the blocks nothing marked. Two things make that safe while
// buckets keep changing:
//
//   - Operations that write blocks and link them later (a push streams a
//     file in, then moves the root) hold the collector from before their
//     first block until their root is written. A cycle waits for every
//     operation that began before it; only then does it mark, so each of
//     those is either committed (its blocks marked through the new root) or
//     abandoned (its blocks are garbage).
//   - Operations that begin during a cycle may reuse blocks the mark did not
//     reach (a push that deduplicates against a just-orphaned block, a
//     SetPath of an old CID): every block written, read or checked through
//     the service's blockstore while a cycle runs is recorded as live, and
//     the sweep keeps it.
//
// So a block is deleted only if no root reached it at mark time and nobody
// touched it since the cycle began. Reads of CIDs that are garbage (an old
// root by /ipfs/<cid>) may find them gone: that is what collecting means.

// GCStats describes one collection cycle.
type GCStats struct {
	Roots      int           // bucket roots marked from
	Broken     []string      // buckets whose DAG could not be read whole (see mark)
	Marked     int           // distinct blocks reachable from them
	Swept      int           // blocks deleted
	FreedBytes int64         // bytes of the deleted blocks
	Waited     time.Duration // time spent waiting for operations in flight
	Duration   time.Duration // the whole cycle
}

// collector tracks the operations that hold blocks not yet linked from a
// root, and the blocks touched while a cycle runs.
type collector struct {
	// cycle serializes cycles.
	cycle sync.Mutex

	// mu guards every field below.
	mu     sync.Mutex
	epoch  uint64              // bumped when a cycle begins
	active map[uint64]int      // operations in flight, by the epoch they began in
	idle   *sync.Cond          // signalled when an operation ends
	live   map[string]struct{} // multihashes touched during the running cycle; nil between cycles
}

func newCollector() *collector {
	c := &collector{active: map[uint64]int{}}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// hold registers an operation that writes blocks before it links them.
// The returned release must be called once the operation has written its
// root or given up.
func (c *collector) hold() (release func()) {
	c.mu.Lock()
	e := c.epoch
	c.active[e]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			if c.active[e]--; c.active[e] == 0 {
				delete(c.active, e)
			}
			c.mu.Unlock()
			c.idle.Broadcast()
		})
	}
}

// touch records c as live if a cycle is running.
func (c *collector) touch(k cid.Cid) {
	c.mu.Lock()
	if c.live != nil {
		c.live[string(k.Hash())] = struct{}{}
	}
	c.mu.Unlock()
}

// deleteUnlessLive calls del unless the block k was touched during the
// running cycle. It holds c.mu throughout, so a touch of k either comes
// first (and keeps k) or waits until k is gone (and its reader finds it
// missing, as garbage).
func (c *collector) deleteUnlessLive(k cid.Cid, del func() error) (deleted bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.live[string(k.Hash())]; ok {
		return false, nil
	}
	return true, del()
}

// begin starts recording touched blocks and waits until every operation
// that began before now has ended (or ctx ends).
func (c *collector) begin(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = map[string]struct{}{}
	before := c.epoch
	c.epoch++
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.idle.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	for c.busyBefore(before) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.idle.Wait()
	}
	return nil
}

// busyBefore reports whether operations that began in epoch e or earlier
// are still in flight. c.mu must be held.
func (c *collector) busyBefore(e uint64) bool {
	for ep, n := range c.active {
		if ep <= e && n > 0 {
			return true
		}
	}
	return false
}

// end stops recording touched blocks.
func (c *collector) end() {
	c.mu.Lock()
	c.live = nil
	c.mu.Unlock()
}

// liveBlocks is the blockstore the service works through: it tells the
// collector about every block it stores, reads or checks, so a running
// cycle keeps them.
type liveBlocks struct {
	blockstore.Blockstore
	gc *collector
}

func (b liveBlocks) Has(ctx context.Context, k cid.Cid) (bool, error) {
	b.gc.touch(k)
	return b.Blockstore.Has(ctx, k)
}

func (b liveBlocks) Get(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	b.gc.touch(k)
	return b.Blockstore.Get(ctx, k)
}

func (b liveBlocks) GetSize(ctx context.Context, k cid.Cid) (int, error) {
	b.gc.touch(k)
	return b.Blockstore.GetSize(ctx, k)
}

func (b liveBlocks) Put(ctx context.Context, blk blocks.Block) error {
	b.gc.touch(blk.Cid())
	return b.Blockstore.Put(ctx, blk)
}

func (b liveBlocks) PutMany(ctx context.Context, blks []blocks.Block) error {
	for _, blk := range blks {
		b.gc.touch(blk.Cid())
	}
	return b.Blockstore.PutMany(ctx, blks)
}

// CollectGarbage runs one collection cycle: it deletes every stored block
// that no bucket's current root reaches. It waits for pushes in flight
// that began before it; it never deletes a block a root reaches or an
// operation touched during the cycle. If marking fails (a root's block is
// missing or unreadable) nothing is deleted.
func (s *Service) CollectGarbage(ctx context.Context) (GCStats, error) {
	const op errors.Op = "buckets.CollectGarbage"
	start := time.Now()
	s.gc.cycle.Lock()
	defer s.gc.cycle.Unlock()
	if err := s.gc.begin(ctx); err != nil {
		s.gc.end()
		return GCStats{}, errors.E(op, errors.Canceled, err)
	}
	defer s.gc.end()
	st := GCStats{Waited: time.Since(start)}
	moves, settled := s.usageMoves()
	marked, roots, sizes, broken, err := s.mark(ctx, s.rawDAG)
	if err != nil {
		return GCStats{}, errors.E(op, err)
	}
	s.setUsage(sizes, moves, settled)
	st.Roots, st.Marked, st.Broken = roots, len(marked), broken
	ctx, stop := context.WithCancel(ctx) // ends the key listing on an early return
	defer stop()
	keys, err := s.raw.AllKeysChan(ctx)
	if err != nil {
		return GCStats{}, errors.E(op, errors.Internal, err)
	}
	for k := range keys {
		if _, ok := marked[string(k.Hash())]; ok {
			continue
		}
		size, err := s.raw.GetSize(ctx, k)
		if ipld.IsNotFound(err) {
			continue
		} else if err != nil {
			return st, errors.E(op, errors.Internal, err)
		}
		deleted, err := s.gc.deleteUnlessLive(k, func() error { return s.raw.DeleteBlock(ctx, k) })
		if err != nil {
			return st, errors.E(op, errors.Internal, err)
		}
		if deleted {
			st.Swept++
			st.FreedBytes += int64(size)
		}
	}
	if err := ctx.Err(); err != nil {
		return st, errors.E(op, errors.Canceled, err)
	}
	st.Duration = time.Since(start)
	return st, nil
}

// mark returns the multihashes of every block reachable from the current
// root of every bucket, the roots marked from, each owner's usage (see
// usage.go) and the buckets whose DAG could not be read whole. Raw leaves
// are marked from their parents' links without being read. It reads
// through dag, which does not record what it reads as live.
//
// A bucket whose path names no stored root, or whose DAG misses a block,
// is broken (only its owner can make it so, through the threads API, or
// a damaged disk): what is below a missing block cannot be reached, so
// the cycle goes on without it rather than stopping every collection.
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
	err = s.dbs.EachDB(ctx, func(id threads.ID) error {
		bkts, err := s.allBuckets(ctx, id)
		if err != nil {
			return err
		}
		for _, b := range bkts {
			root, err := b.Root()
			if err == nil {
				err = walk(root)
			}
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				broken = append(broken, fmt.Sprintf("bucket %s in DB %s: %v", b.Key, id, err))
				continue
			}
			roots++
			nd, err := dag.Get(ctx, root)
			if err != nil {
				return errors.E(errors.Internal, err)
			}
			n, err := nodeSize(nd)
			if err != nil {
				return err
			}
			sizes[hub.PubKey(b.Owner)] += n
		}
		return nil
	})
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
