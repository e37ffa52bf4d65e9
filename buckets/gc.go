package buckets

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/ipfs/boxo/blockstore"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// Garbage collection is mark and sweep over the hub's blockstore: mark
// every block reachable from the recorded root of every bucket (record.go),
// then delete the blocks nothing marked. It reads the hub's records only,
// never a collection: no tenant's code runs in it, and no root a tenant
// wrote through the threads API pins a block. Three things make that safe while
// buckets keep changing:
//
//   - Operations that write blocks and link them later (a push streams a
//     file in, then moves the root) hold the collector from before their
//     first block until their root is written. A cycle waits for every
//     operation that began before it; only then does it mark, so each of
//     those is either committed (its blocks marked through the new root) or
//     abandoned (its blocks are garbage).
//   - The wait is bounded (Config.GCHoldTimeout), so that one caller who
//     stalls or trickles an upload cannot stop collection for every tenant.
//     Each held operation remembers every block it stored, read or checked
//     (through the context hold returns); a cycle that stops waiting keeps
//     all the blocks of the operations it stopped waiting for, whatever
//     they may still link. Their own garbage waits for a later cycle; every
//     other tenant's is collected. The record costs some 100 bytes a
//     block (about 100 KiB per GiB pushed in 1 MiB chunks) while the
//     operation runs.
//   - Operations that begin during a cycle may reuse blocks the mark did not
//     reach (a push that deduplicates against a just-orphaned block, a
//     SetPath of an old CID): every block written, read or checked through
//     the service's blockstore while a cycle runs is recorded as live, and
//     the sweep keeps it.
//
// So a block is deleted only if no root reached it at mark time, nobody
// touched it since the cycle began, and no operation the cycle stopped
// waiting for touched it. Reads of CIDs that are garbage (an old root by
// /ipfs/<cid>) may find them gone: that is what collecting means. A cycle
// starts marking at most GCHoldTimeout after it begins, whatever callers
// do, so collection happens within a bounded time.

// DefaultGCHoldTimeout is how long a collection cycle waits for operations
// that began before it: longer than any push whose client keeps sending
// normally takes to commit after its last byte, short enough that a
// stalled one delays collection by little.
const DefaultGCHoldTimeout = time.Minute

// GCStats describes one collection cycle.
type GCStats struct {
	Roots      int           // bucket roots marked from
	Broken     []string      // buckets whose DAG could not be read whole (see mark)
	Marked     int           // distinct blocks reachable from them
	Swept      int           // blocks deleted
	FreedBytes int64         // bytes of the deleted blocks
	Waited     time.Duration // time spent waiting for operations in flight
	// Outwaited is how many operations that began before the cycle were
	// still running when it stopped waiting (GCHoldTimeout): every block
	// they touched was kept.
	Outwaited int
	Duration  time.Duration // the whole cycle
}

// collector tracks the operations that hold blocks not yet linked from a
// root, and the blocks touched while a cycle runs.
type collector struct {
	// cycle serializes cycles.
	cycle sync.Mutex

	// mu guards every field below and every holder's fields.
	mu     sync.Mutex
	epoch  uint64               // bumped when a cycle begins
	active map[*holder]struct{} // operations in flight
	idle   *sync.Cond           // signalled when an operation ends
	live   map[string]struct{}  // multihashes touched during the running cycle; nil between cycles
}

// holder is one operation in flight that writes blocks before it links
// them.
type holder struct {
	epoch uint64 // the epoch it began in
	// touched holds the multihashes of the blocks the operation stored,
	// read or checked, for a cycle that stops waiting for it; nil once
	// the operation ended. Guarded by collector.mu.
	touched map[string]struct{}
}

// holderKey is the context key under which a holder travels.
type holderKey struct{}

func newCollector() *collector {
	c := &collector{active: map[*holder]struct{}{}}
	c.idle = sync.NewCond(&c.mu)
	return c
}

// hold registers an operation that writes blocks before it links them
// and returns ctx carrying it: every block touched through the service's
// blockstore under the returned context is the operation's. The returned
// release must be called once the operation has written its root or
// given up. An operation called by one that holds already (ctx carries a
// hold) is part of it: its release does nothing.
func (c *collector) hold(ctx context.Context) (context.Context, func()) {
	h, release := c.register(ctx)
	return h.bind(ctx), release
}

// register is hold for an operation that spans calls with contexts of
// their own (a Batch): each call binds the holder to its context.
func (c *collector) register(ctx context.Context) (*holder, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, _ := ctx.Value(holderKey{}).(*holder); h != nil && h.touched != nil {
		return h, func() {}
	}
	h := &holder{epoch: c.epoch, touched: map[string]struct{}{}}
	c.active[h] = struct{}{}
	var once sync.Once
	return h, func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.active, h)
			h.touched = nil
			c.mu.Unlock()
			c.idle.Broadcast()
		})
	}
}

// bind returns ctx carrying h.
func (h *holder) bind(ctx context.Context) context.Context {
	return context.WithValue(ctx, holderKey{}, h)
}

// touch records k as live if a cycle is running, and as touched by the
// operation ctx carries, if any.
func (c *collector) touch(ctx context.Context, k cid.Cid) {
	h, _ := ctx.Value(holderKey{}).(*holder)
	c.mu.Lock()
	if c.live != nil || (h != nil && h.touched != nil) {
		mh := string(k.Hash())
		if c.live != nil {
			c.live[mh] = struct{}{}
		}
		if h != nil && h.touched != nil {
			h.touched[mh] = struct{}{}
		}
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
// that began before now has ended, for at most bound (or until ctx ends).
// Past the bound it records every block the operations still running
// have touched as live, and returns how many they are.
func (c *collector) begin(ctx context.Context, bound time.Duration) (outwaited int, err error) {
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
	expired := false // guarded by c.mu
	t := time.AfterFunc(bound, func() {
		c.mu.Lock()
		expired = true
		c.idle.Broadcast()
		c.mu.Unlock()
	})
	defer t.Stop()
	for c.busyBefore(before) {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if expired {
			for h := range c.active {
				if h.epoch <= before {
					maps.Copy(c.live, h.touched)
					outwaited++
				}
			}
			return outwaited, nil
		}
		c.idle.Wait()
	}
	return 0, nil
}

// busyBefore reports whether operations that began in epoch e or earlier
// are still in flight. c.mu must be held.
func (c *collector) busyBefore(e uint64) bool {
	for h := range c.active {
		if h.epoch <= e {
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
	b.gc.touch(ctx, k)
	return b.Blockstore.Has(ctx, k)
}

func (b liveBlocks) Get(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	b.gc.touch(ctx, k)
	return b.Blockstore.Get(ctx, k)
}

func (b liveBlocks) GetSize(ctx context.Context, k cid.Cid) (int, error) {
	b.gc.touch(ctx, k)
	return b.Blockstore.GetSize(ctx, k)
}

func (b liveBlocks) Put(ctx context.Context, blk blocks.Block) error {
	b.gc.touch(ctx, blk.Cid())
	return b.Blockstore.Put(ctx, blk)
}

func (b liveBlocks) PutMany(ctx context.Context, blks []blocks.Block) error {
	for _, blk := range blks {
		b.gc.touch(ctx, blk.Cid())
	}
	return b.Blockstore.PutMany(ctx, blks)
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
	s.gc.cycle.Lock()
	defer s.gc.cycle.Unlock()
	outwaited, err := s.gc.begin(ctx, s.holdTimeout())
	if err != nil {
		s.gc.end()
		return GCStats{}, errors.E(op, errors.Canceled, err)
	}
	defer s.gc.end()
	st := GCStats{Waited: time.Since(start), Outwaited: outwaited}
	moves, settled := s.usageMoves()
	marked, roots, sizes, broken, err := s.mark(ctx)
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
// through s.rawDAG, which does not record what it reads as live.
//
// A bucket whose DAG misses a block is broken (a damaged disk, or a
// bucket recorded from a store that lacked it): what is below a missing
// block cannot be reached, so the cycle goes on without it rather than
// stopping every collection.
func (s *Service) mark(ctx context.Context) (marked map[string]struct{}, roots int, sizes map[hub.PubKey]int64, broken []string, err error) {
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
			nd, err := s.rawDAG.Get(ctx, c)
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
