// Package blockstore stores IPFS blocks for Hub: boxo's Blockstore over a
// go-datastore, with two datastores to put under it.
//
// Files (files.go), one file per block under the repo's "blocks"
// directory, is what hubd uses. Pebble, the other, keeps blocks in the
// embedded store under the key prefix "ipfs" and is kept for comparison and
// for small embedded uses. Why files for hubd: a block is a write-once
// value of up to 1 MiB, and in an LSM tree every such value is written
// again by the WAL, the memtable flush and each compaction. Measured side
// by side, pushes into files were faster and hubd held less than half the
// memory, and pebble slowed as its compactions caught up (bench/RESULTS.md,
// "Block store: files against pebble"; BenchmarkImport here compares the
// two in process).
//
// Both are crash safe: a block is whole or absent after a crash. Pebble
// gets that from its write-ahead log, syncing every batch; Files from
// write-to-temp, then at Flush one sync for all files, renames, and a sync
// of the directories (see Files). The bucket service flushes before it
// writes a root, so a root never points at a block a crash can lose.
//
// GC (gc.go) wraps a Blockstore with what a garbage collector running
// beside writers needs, keeping the whole interface: the bucket service
// and the gateway hold that one handle.
//
// Writes go through datastore batches (boxo's PutMany, driven by
// ipld.BufferedDAG during imports), so memory is bounded by the batch
// size, never by the size of a file.
package blockstore

import (
	"context"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/store"
)

// prefix is the store key prefix of every datastore key. Datastore keys
// start with '/', so keys look like "ipfs/blocks/<multihash>".
const prefix = store.IPFSBlocks

// Pebble adapts the store to go-datastore's Batching interface. It
// trusts its callers (boxo's blockstore) for key shapes.
type Pebble struct {
	st *store.Store
}

var _ ds.Batching = (*Pebble)(nil)

// NewPebble returns a datastore over st.
func NewPebble(st *store.Store) *Pebble { return &Pebble{st: st} }

// Blockstore is boxo's blockstore over a datastore, with Flush.
type Blockstore struct {
	bstore.Blockstore
	d ds.Batching
}

// New returns a boxo blockstore over d. Hashes are not re-verified on read
// (HashOnRead off): blocks are verified as they are imported.
func New(d ds.Batching) Blockstore { return Blockstore{bstore.NewBlockstore(d), d} }

// Flush returns once every block put before the call is durable.
func (b Blockstore) Flush(ctx context.Context) error { return b.d.Sync(ctx, ds.NewKey("/")) }

// NewDAGService returns an offline DAG service over bs: everything it
// reads must already be stored (no network fetches yet).
func NewDAGService(bs bstore.Blockstore) ipld.DAGService {
	return merkledag.NewDAGService(blockservice.New(bs, nil))
}

func dsKey(k ds.Key) []byte { return append([]byte(prefix), k.String()...) }

// Get returns the value at k, or ds.ErrNotFound.
func (d *Pebble) Get(_ context.Context, k ds.Key) ([]byte, error) {
	v, err := d.st.GetRaw(dsKey(k))
	if errors.Is(errors.NotExist, err) {
		return nil, ds.ErrNotFound
	}
	return v, err
}

// Has reports whether k exists.
func (d *Pebble) Has(_ context.Context, k ds.Key) (bool, error) {
	return d.st.Has(dsKey(k))
}

// GetSize returns the size of the value at k, or ds.ErrNotFound.
func (d *Pebble) GetSize(ctx context.Context, k ds.Key) (int, error) {
	v, err := d.Get(ctx, k)
	if err != nil {
		return -1, err
	}
	return len(v), nil
}

// Put stores v at k durably.
func (d *Pebble) Put(_ context.Context, k ds.Key, v []byte) error {
	b := d.st.NewBatch()
	b.PutRaw(dsKey(k), v)
	return b.Commit()
}

// Delete removes k durably.
func (d *Pebble) Delete(_ context.Context, k ds.Key) error {
	b := d.st.NewBatch()
	b.Delete(dsKey(k))
	return b.Commit()
}

// Sync is a no-op: every Put and batch Commit is synced already.
func (d *Pebble) Sync(context.Context, ds.Key) error { return nil }

// Close is a no-op: the store belongs to the daemon.
func (d *Pebble) Close() error { return nil }

// Query streams the entries under q.Prefix in key order; filters, orders,
// offsets and limits are applied naively on top.
func (d *Pebble) Query(ctx context.Context, q query.Query) (query.Results, error) {
	pfx := ds.NewKey(q.Prefix).String()
	if pfx != "/" {
		pfx += "/"
	}
	base := q
	base.Prefix, base.Filters, base.Orders, base.Offset, base.Limit = "", nil, nil, 0, 0
	res := query.ResultsWithContext(base, func(ctx context.Context, out chan<- query.Result) {
		err := d.st.Scan(append([]byte(prefix), pfx...), func(key, val []byte) error {
			e := query.Entry{Key: string(key[len(prefix):]), Size: len(val)}
			if !q.KeysOnly {
				e.Value = append([]byte(nil), val...)
			}
			return send(ctx, out, query.Result{Entry: e})
		})
		if err != nil && ctx.Err() == nil {
			send(ctx, out, query.Result{Error: err})
		}
	})
	q.Prefix = ""
	return query.NaiveQueryApply(q, res), nil
}

// Batch starts a batch whose Commit writes all its puts and deletes
// atomically and durably.
func (d *Pebble) Batch(context.Context) (ds.Batch, error) {
	return &batch{b: d.st.NewBatch()}, nil
}

type batch struct{ b *store.Batch }

func (b *batch) Put(_ context.Context, k ds.Key, v []byte) error {
	b.b.PutRaw(dsKey(k), v)
	return nil
}

func (b *batch) Delete(_ context.Context, k ds.Key) error {
	b.b.Delete(dsKey(k))
	return nil
}

func (b *batch) Commit(context.Context) error { return b.b.Commit() }

// send delivers r to a query's results, unless the query's reader went
// away (ctx ended).
func send(ctx context.Context, out chan<- query.Result, r query.Result) error {
	select {
	case out <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
