package blockstore

import (
	"bytes"
	"context"
	"testing"

	bstore "github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// mapByCID is a ByCID over a map.
type mapByCID map[cid.Cid][]byte

func (m mapByCID) HasBlock(c cid.Cid) (bool, error) { _, ok := m[c]; return ok, nil }
func (m mapByCID) BlockByCID(c cid.Cid) ([]byte, error) {
	const op errors.Op = "mapByCID"
	if data, ok := m[c]; ok {
		return data, nil
	}
	return nil, errors.Errorf(op, errors.NotExist, "no block %s", c)
}

// TestServed checks that Served finds blocks in either store, reports the
// others as bitswap's not found, and refuses writes.
func TestServed(t *testing.T) {
	ctx := context.Background()
	buckets := bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	inBucket, inThread, nowhere := blocks.NewBlock([]byte("bucket")), blocks.NewBlock([]byte("thread block")), blocks.NewBlock([]byte("nowhere"))
	if err := buckets.Put(ctx, inBucket); err != nil {
		t.Fatal(err)
	}
	s := NewServed(buckets, mapByCID{inThread.Cid(): inThread.RawData()})

	for _, blk := range []blocks.Block{inBucket, inThread} {
		if ok, err := s.Has(ctx, blk.Cid()); err != nil || !ok {
			t.Errorf("Has(%s) = %v, %v", blk.Cid(), ok, err)
		}
		if got, err := s.Get(ctx, blk.Cid()); err != nil || !bytes.Equal(got.RawData(), blk.RawData()) || !got.Cid().Equals(blk.Cid()) {
			t.Errorf("Get(%s) = %v, %v", blk.Cid(), got, err)
		}
		if n, err := s.GetSize(ctx, blk.Cid()); err != nil || n != len(blk.RawData()) {
			t.Errorf("GetSize(%s) = %d, %v; want %d", blk.Cid(), n, err, len(blk.RawData()))
		}
	}
	c := nowhere.Cid()
	if ok, err := s.Has(ctx, c); err != nil || ok {
		t.Errorf("Has(missing) = %v, %v", ok, err)
	}
	if _, err := s.Get(ctx, c); !ipld.IsNotFound(err) {
		t.Errorf("Get(missing): %v; want ipld.ErrNotFound", err)
	}
	if _, err := s.GetSize(ctx, c); !ipld.IsNotFound(err) {
		t.Errorf("GetSize(missing): %v; want ipld.ErrNotFound", err)
	}
	for name, err := range map[string]error{
		"Put":         s.Put(ctx, nowhere),
		"PutMany":     s.PutMany(ctx, []blocks.Block{nowhere}),
		"DeleteBlock": s.DeleteBlock(ctx, inBucket.Cid()),
	} {
		if !errors.Is(errors.Permission, err) {
			t.Errorf("%s: %v; want Permission", name, err)
		}
	}
	if ok, _ := buckets.Has(ctx, c); ok {
		t.Error("a refused Put stored the block")
	}
}
