package blockstore

import (
	"context"

	bstore "github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// ByCID is a read-only store of blocks found by CID alone, such as the
// thread blocks of a logstore.Store. A missing block is a NotExist error.
type ByCID interface {
	HasBlock(c cid.Cid) (bool, error)
	BlockByCID(c cid.Cid) ([]byte, error)
}

// Served is what hubd serves to IPFS peers over bitswap: the blocks of
// buckets, then those of threads, read only. It reads in place; nothing is
// copied from the threads' store into the buckets' one. Thread blocks are
// encrypted (see logstore.Store), so serving them to anyone who names their
// CID is what IPFS does with any block, and gives nothing away.
type Served struct {
	buckets bstore.Blockstore
	threads ByCID
}

var _ bstore.Blockstore = Served{}

// NewServed returns the read-only union of buckets and threads. Blocks
// in threads are trusted as stored: the thread store checked them when they
// were written.
func NewServed(buckets bstore.Blockstore, threads ByCID) Served {
	return Served{buckets: buckets, threads: threads}
}

// Has reports whether either store holds c.
func (s Served) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if ok, err := s.buckets.Has(ctx, c); ok || err != nil {
		return ok, err
	}
	return s.threads.HasBlock(c)
}

// Get returns block c, or an ipld.ErrNotFound, as bitswap expects of a
// missing block.
func (s Served) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	if blk, err := s.buckets.Get(ctx, c); !ipld.IsNotFound(err) {
		return blk, err
	}
	data, err := s.threads.BlockByCID(c)
	if errors.Is(errors.NotExist, err) {
		return nil, ipld.ErrNotFound{Cid: c}
	}
	if err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}

// GetSize returns the size of block c, or an ipld.ErrNotFound. A thread
// block is read whole to size it: thread blocks are small (a record is at
// most 4 KiB, a body one instance) and bitswap fetches what it sizes.
func (s Served) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if n, err := s.buckets.GetSize(ctx, c); !ipld.IsNotFound(err) {
		return n, err
	}
	blk, err := s.Get(ctx, c)
	if err != nil {
		return -1, err
	}
	return len(blk.RawData()), nil
}

// AllKeysChan lists the buckets' blocks only: thread blocks are found by
// CID and never listed (nothing announces or enumerates them).
func (s Served) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	return s.buckets.AllKeysChan(ctx)
}

// Put is refused: bucket blocks are written by the bucket service, thread
// blocks by the thread store.
func (s Served) Put(context.Context, blocks.Block) error { return readOnly("Put") }

// PutMany is refused, as Put.
func (s Served) PutMany(context.Context, []blocks.Block) error { return readOnly("PutMany") }

// DeleteBlock is refused: the bucket collector and thread deletion remove
// blocks.
func (s Served) DeleteBlock(context.Context, cid.Cid) error { return readOnly("DeleteBlock") }

func readOnly(method string) error {
	const op errors.Op = "blockstore.Served"
	return errors.Errorf(op, errors.Permission, "%s: the blocks served to IPFS peers are read only; write through the bucket or thread services", method)
}
