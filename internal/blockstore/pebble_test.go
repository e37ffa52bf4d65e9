package blockstore

import (
	"context"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// The Pebble datastore: blocks in the embedded store, the comparison that
// BenchmarkImport and the datastore tests hold Files against (package doc).
// No hub keeps blocks this way, so it lives with the tests, and its key
// prefix is in no hub's store.

// prefix starts every key of the Pebble datastore. Datastore keys start
// with '/', so keys look like "ipfs/blocks/<multihash>".
const prefix = "ipfs"

// Pebble adapts the store to go-datastore's Batching interface. It
// trusts its callers (boxo's blockstore) for key shapes.
type Pebble struct {
	st *store.Store
}

var _ ds.Batching = (*Pebble)(nil)

// NewPebble returns a datastore over st.
func NewPebble(st *store.Store) *Pebble { return &Pebble{st: st} }

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
