// Package blockstore stores IPFS blocks for Hub: boxo's Blockstore over a
// go-datastore.
//
// Files (files.go), one file per block under the repo's "blocks"
// directory, is the datastore hubd uses. The tests hold it against a
// datastore over the embedded pebble store (pebble_test.go), which no hub
// uses. Why files: a block is a write-once value of up to 1 MiB, and in
// an LSM tree every such value is written again by the WAL, the memtable
// flush and each compaction. Measured side by side, pushes into files were
// faster and hubd held less than half the memory, and pebble slowed as its
// compactions caught up (bench/RESULTS.md, "Block store: files against
// pebble"; BenchmarkImport here compares the two in process).
//
// S3 (s3.go) keeps blocks as objects in an S3-compatible store instead,
// for hubs whose data outgrows the machine (hubd --blocks s3://…).
//
// Files and the pebble datastore are crash safe: a block is whole or
// absent after a crash. Pebble
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

	bstore "github.com/ipfs/boxo/blockstore"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

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
