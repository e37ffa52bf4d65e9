package blockstore

import (
	"context"
	"maps"
	"sync"
	"time"

	bstore "github.com/ipfs/boxo/blockstore"
	dshelp "github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	ipld "github.com/ipfs/go-ipld-format"
)

// GC is a Blockstore that a mark-and-sweep collector runs beside, as
// boxo's NewGCBlockstore wraps a blockstore with a GC lock: it keeps the
// whole interface of the store it wraps (Flush included) and adds what the
// collector needs, so its users hold this one handle. The marking is its
// user's (which roots are live is theirs to know); what makes a sweep safe
// while writers keep writing is here:
//
//   - Operations that write blocks and link them later (a push streams a
//     file in, then moves a root) hold the collector (Hold, Register) from
//     before their first block until their root is written. A cycle waits
//     for every operation that began before it; only then does it mark, so
//     each of those is either committed (its blocks marked through the new
//     root) or abandoned (its blocks are garbage).
//   - The wait is bounded (Collect's hold), so that one caller who stalls
//     cannot stop collection for every other. Each held operation
//     remembers every block it stored, read or checked through the GC
//     under the context Hold returned; a cycle that stops waiting keeps all
//     the blocks of the operations it stopped waiting for. The record costs
//     some 100 bytes a block while the operation runs.
//   - Operations that begin during a cycle may reuse blocks the mark did not
//     reach: every block written, read or checked through the GC while a
//     cycle runs is recorded as live, and the sweep keeps it.
//
// So a block is deleted only if no root reached it at mark time, nobody
// touched it through the GC since the cycle began, and no operation the
// cycle stopped waiting for touched it. A cycle starts marking at most
// hold after it begins, whatever callers do.
type GC struct {
	bs Blockstore // the store itself: what the mark reads and the sweep deletes through

	// cycle serializes cycles.
	cycle sync.Mutex

	// mu guards every field below and every holder's fields.
	mu     sync.Mutex
	epoch  uint64               // bumped when a cycle begins
	active map[*holder]struct{} // operations in flight
	idle   *sync.Cond           // signalled when an operation ends
	live   map[string]struct{}  // multihashes touched during the running cycle; nil between cycles
	// deleting holds the multihashes of a batch being deleted from a
	// store that deletes in batches (recorder), each with a channel closed
	// when the batch is done: a touch of one waits for it, so that g.mu is
	// not held across slow remote deletes.
	deleting map[string]chan struct{}
}

var _ bstore.Blockstore = (*GC)(nil)

// NewGC returns bs with a collector beside it.
func NewGC(bs Blockstore) *GC {
	g := &GC{bs: bs, active: map[*holder]struct{}{}, deleting: map[string]chan struct{}{}}
	g.idle = sync.NewCond(&g.mu)
	return g
}

// GCStats describes what one cycle did to the blocks.
type GCStats struct {
	Marked     int           // distinct blocks the mark reached
	Swept      int           // blocks deleted
	FreedBytes int64         // bytes of the deleted blocks
	Waited     time.Duration // time spent waiting for operations in flight
	// Outwaited is how many operations that began before the cycle were
	// still running when it stopped waiting: every block they touched was
	// kept.
	Outwaited int
}

// holder is one operation in flight that writes blocks before it links
// them.
type holder struct {
	epoch uint64 // the epoch it began in
	// touched holds the multihashes of the blocks the operation stored,
	// read or checked, for a cycle that stops waiting for it; nil once
	// the operation ended. Guarded by GC.mu.
	touched map[string]struct{}
}

// Holder is an operation registered with Register, for operations that
// span calls with contexts of their own.
type Holder struct{ h *holder }

// holderKey is the context key under which a holder travels.
type holderKey struct{}

// Hold registers an operation that writes blocks before it links them
// and returns ctx carrying it: every block touched through the GC under
// the returned context is the operation's. The returned release must be
// called once the operation has written its root or given up. An
// operation called by one that holds already (ctx carries a hold) is part
// of it: its release does nothing.
func (g *GC) Hold(ctx context.Context) (context.Context, func()) {
	h, release := g.Register(ctx)
	return h.Bind(ctx), release
}

// Register is Hold for an operation that spans calls with contexts of
// their own (a batch of pushes): each call binds the holder to its
// context.
func (g *GC) Register(ctx context.Context) (Holder, func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if h, _ := ctx.Value(holderKey{}).(*holder); h != nil && h.touched != nil {
		return Holder{h}, func() {}
	}
	h := &holder{epoch: g.epoch, touched: map[string]struct{}{}}
	g.active[h] = struct{}{}
	var once sync.Once
	return Holder{h}, func() {
		once.Do(func() {
			g.mu.Lock()
			delete(g.active, h)
			h.touched = nil
			g.mu.Unlock()
			g.idle.Broadcast()
		})
	}
}

// Bind returns ctx carrying h.
func (h Holder) Bind(ctx context.Context) context.Context {
	return context.WithValue(ctx, holderKey{}, h.h)
}

// touch records k as live if a cycle is running, and as touched by the
// operation ctx carries, if any. If the sweep is deleting k, it waits
// until the delete is done: a reader then finds k missing (it was
// garbage), a writer stores it again.
func (g *GC) touch(ctx context.Context, k cid.Cid) {
	h, _ := ctx.Value(holderKey{}).(*holder)
	g.mu.Lock()
	var deleting chan struct{}
	if g.live != nil || (h != nil && h.touched != nil) {
		mh := string(k.Hash())
		if g.live != nil {
			g.live[mh] = struct{}{}
			deleting = g.deleting[mh]
		}
		if h != nil && h.touched != nil {
			h.touched[mh] = struct{}{}
		}
	}
	g.mu.Unlock()
	if deleting != nil {
		select {
		case <-deleting:
		case <-ctx.Done(): // the operation's own call fails with ctx's error
		}
	}
}

// Has reports whether k is stored, and keeps it if a cycle runs.
func (g *GC) Has(ctx context.Context, k cid.Cid) (bool, error) {
	g.touch(ctx, k)
	return g.bs.Has(ctx, k)
}

// Get returns block k, and keeps it if a cycle runs.
func (g *GC) Get(ctx context.Context, k cid.Cid) (blocks.Block, error) {
	g.touch(ctx, k)
	return g.bs.Get(ctx, k)
}

// GetSize returns the size of block k, and keeps it if a cycle runs.
func (g *GC) GetSize(ctx context.Context, k cid.Cid) (int, error) {
	g.touch(ctx, k)
	return g.bs.GetSize(ctx, k)
}

// Put stores blk, and keeps it if a cycle runs.
func (g *GC) Put(ctx context.Context, blk blocks.Block) error {
	g.touch(ctx, blk.Cid())
	return g.bs.Put(ctx, blk)
}

// PutMany stores blks, and keeps them if a cycle runs.
func (g *GC) PutMany(ctx context.Context, blks []blocks.Block) error {
	for _, blk := range blks {
		g.touch(ctx, blk.Cid())
	}
	return g.bs.PutMany(ctx, blks)
}

// DeleteBlock deletes block k.
func (g *GC) DeleteBlock(ctx context.Context, k cid.Cid) error { return g.bs.DeleteBlock(ctx, k) }

// AllKeysChan lists every stored block.
func (g *GC) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) { return g.bs.AllKeysChan(ctx) }

// Flush returns once every block put before the call is durable.
func (g *GC) Flush(ctx context.Context) error { return g.bs.Flush(ctx) }

// Mark returns the multihashes of every block the live roots reach. It
// reads through dag, which reads the wrapped store without recording what
// it reads as live (a mark reaches every block it keeps anyway).
type Mark func(ctx context.Context, dag ipld.DAGService) (marked map[string]struct{}, err error)

// Collect runs one cycle: it waits for the operations in flight that
// began before it, for at most hold, then marks and deletes every stored
// block mark did not return, nobody touched during the cycle and no
// operation it stopped waiting for touched. If mark fails nothing is
// deleted. An error from ctx ends the cycle with ctx's error.
func (g *GC) Collect(ctx context.Context, hold time.Duration, mark Mark) (GCStats, error) {
	start := time.Now()
	g.cycle.Lock()
	defer g.cycle.Unlock()
	outwaited, err := g.begin(ctx, hold)
	defer g.end()
	if err != nil {
		return GCStats{}, err
	}
	st := GCStats{Waited: time.Since(start), Outwaited: outwaited}
	marked, err := mark(ctx, NewDAGService(g.bs))
	if err != nil {
		return GCStats{}, err
	}
	st.Marked = len(marked)
	if r, ok := g.bs.d.(recorder); ok {
		if r.Recording() {
			return st, g.sweepRecorded(ctx, r, marked, &st)
		}
	}
	ctx, stop := context.WithCancel(ctx) // ends the key listing on an early return
	defer stop()
	keys, err := g.bs.AllKeysChan(ctx)
	if err != nil {
		return st, err
	}
	for k := range keys {
		if _, ok := marked[string(k.Hash())]; ok {
			continue
		}
		size, err := g.bs.GetSize(ctx, k)
		if ipld.IsNotFound(err) {
			continue
		} else if err != nil {
			return st, err
		}
		deleted, err := g.deleteUnlessLive(k, func() error { return g.bs.DeleteBlock(ctx, k) })
		if err != nil {
			return st, err
		}
		if deleted {
			st.Swept++
			st.FreedBytes += int64(size)
		}
	}
	return st, ctx.Err()
}

// A recorder is a datastore that keeps its own record of what it holds
// and deletes in batches (S3 with KeepRecords): the collector walks the
// record instead of listing the store.
type recorder interface {
	// Recording reports whether the store keeps a record (some S3
	// stores do not: tests, tools).
	Recording() bool
	// Records returns up to n records after the key after, in key order.
	Records(after ds.Key, n int) ([]Record, error)
	// DeleteMany deletes the values of keys and their records.
	DeleteMany(ctx context.Context, keys []ds.Key) error
}

// sweepBatch is how many records the sweep reads at once, and at most how
// many blocks one batch deletes (one DeleteObjects request).
const sweepBatch = maxDeletes

// sweepRecorded deletes every block r records that marked lacks and
// nobody touched during the cycle, a batch at a time. A batch being
// deleted is in g.deleting, not under g.mu: a touch of one of its blocks
// waits for the batch (see touch), others go on.
func (g *GC) sweepRecorded(ctx context.Context, r recorder, marked map[string]struct{}, st *GCStats) error {
	after := ds.NewKey("/")
	for {
		page, err := r.Records(after, sweepBatch)
		if err != nil || len(page) == 0 {
			return err
		}
		after = page[len(page)-1].Key
		var keys []ds.Key
		var mhs []string
		var freed int64
		done := make(chan struct{})
		g.mu.Lock()
		for _, rec := range page {
			h, err := dshelp.DsKeyToMultihash(ds.NewKey(rec.Key.BaseNamespace()))
			if err != nil {
				continue // not a block's key: the blockstore never wrote it
			}
			mh := string(h)
			if _, ok := marked[mh]; ok {
				continue
			}
			if _, ok := g.live[mh]; ok {
				continue
			}
			g.deleting[mh] = done
			keys, mhs = append(keys, rec.Key), append(mhs, mh)
			freed += int64(rec.Size)
		}
		g.mu.Unlock()
		if len(keys) == 0 {
			continue
		}
		err = r.DeleteMany(ctx, keys)
		g.mu.Lock()
		for _, mh := range mhs {
			delete(g.deleting, mh)
		}
		g.mu.Unlock()
		close(done)
		if err != nil {
			return err
		}
		st.Swept += len(keys)
		st.FreedBytes += freed
	}
}

// deleteUnlessLive calls del unless the block k was touched during the
// running cycle. It holds g.mu throughout, so a touch of k either comes
// first (and keeps k) or waits until k is gone (and its reader finds it
// missing, as garbage).
func (g *GC) deleteUnlessLive(k cid.Cid, del func() error) (deleted bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.live[string(k.Hash())]; ok {
		return false, nil
	}
	return true, del()
}

// begin starts recording touched blocks and waits until every operation
// that began before now has ended, for at most bound (or until ctx ends).
// Past the bound it records every block the operations still running
// have touched as live, and returns how many they are.
func (g *GC) begin(ctx context.Context, bound time.Duration) (outwaited int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live = map[string]struct{}{}
	before := g.epoch
	g.epoch++
	stop := context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.idle.Broadcast()
		g.mu.Unlock()
	})
	defer stop()
	expired := false // guarded by g.mu
	t := time.AfterFunc(bound, func() {
		g.mu.Lock()
		expired = true
		g.idle.Broadcast()
		g.mu.Unlock()
	})
	defer t.Stop()
	for g.busyBefore(before) {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if expired {
			for h := range g.active {
				if h.epoch <= before {
					maps.Copy(g.live, h.touched)
					outwaited++
				}
			}
			return outwaited, nil
		}
		g.idle.Wait()
	}
	return 0, nil
}

// busyBefore reports whether operations that began in epoch e or earlier
// are still in flight. g.mu must be held.
func (g *GC) busyBefore(e uint64) bool {
	for h := range g.active {
		if h.epoch <= e {
			return true
		}
	}
	return false
}

// end stops recording touched blocks.
func (g *GC) end() {
	g.mu.Lock()
	g.live = nil
	g.mu.Unlock()
}
