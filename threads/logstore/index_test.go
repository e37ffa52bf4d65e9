package logstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// wantBlocks fails t unless s finds each of blocks by its CID alone, with
// the bytes it hashes to.
func (s *testStore) wantBlocks(t *testing.T, blocks []threads.Block) {
	t.Helper()
	for _, blk := range blocks {
		data, err := s.BlockByCID(blk.Cid)
		if err != nil {
			t.Fatalf("BlockByCID(%s): %v", blk.Cid, err)
		}
		if !bytes.Equal(data, blk.Data) {
			t.Fatalf("BlockByCID(%s) = %d bytes, not the %d stored", blk.Cid, len(data), len(blk.Data))
		}
		if err := threads.CheckBlock(blk.Cid, data); err != nil {
			t.Fatalf("BlockByCID(%s): %v", blk.Cid, err)
		}
		if ok, err := s.HasBlock(blk.Cid); err != nil || !ok {
			t.Fatalf("HasBlock(%s) = %v, %v", blk.Cid, ok, err)
		}
	}
}

// wantNoBlocks fails t if s finds any of blocks by its CID.
func (s *testStore) wantNoBlocks(t *testing.T, blocks []threads.Block) {
	t.Helper()
	for _, blk := range blocks {
		_, err := s.BlockByCID(blk.Cid)
		check(t, err, errors.NotExist, blk.Cid.String())
		if ok, err := s.HasBlock(blk.Cid); err != nil || ok {
			t.Fatalf("HasBlock(%s) = %v, %v; want false", blk.Cid, ok, err)
		}
	}
}

// TestBlockByCIDFollowsWrites checks that the blocks of appended and of
// ingested records are found by CID alone, once committed, and that a CID
// no thread holds is NotExist.
func TestBlockByCIDFollowsWrites(t *testing.T) {
	s := newStore(t)
	info, logKey := s.newThread(t, "")
	first := s.blocksOf(t, info.ID, s.append(t, info.ID, logKey, "first"))
	second := s.blocksOf(t, info.ID, s.append(t, info.ID, logKey, "second"))
	s.wantBlocks(t, append(first, second...))

	// Not visible before its batch commits.
	unlock := s.Lock(info.ID)
	b := s.db.NewBatch()
	rec, err := s.Append(b, info.ID, logKey, []byte("pending"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.wantNoBlocks(t, []threads.Block{{Cid: rec.Cid}})
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	unlock()
	pending := s.blocksOf(t, info.ID, rec)
	s.wantBlocks(t, pending)

	r := replica(t, info, info.Key.ServiceOnly())
	r.wantNoBlocks(t, first)
	for _, blocks := range [][]threads.Block{first, second} {
		if _, _, err := r.ingest(t, info.ID, blocks); err != nil {
			t.Fatal(err)
		}
	}
	r.wantBlocks(t, append(first, second...))
	r.wantNoBlocks(t, pending)

	unknown, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: 0x12, MhLength: 32}.Sum([]byte("no such block"))
	if err != nil {
		t.Fatal(err)
	}
	s.wantNoBlocks(t, []threads.Block{{Cid: unknown}})
}

// TestDeleteThreadDropsIndex checks that a deleted thread's blocks are no
// longer found by CID, including blocks written in the deleting batch,
// while a block another thread also holds still is; and that no key of
// theirs is left.
func TestDeleteThreadDropsIndex(t *testing.T) {
	s := newStore(t)
	a := newInfo(t, "a")
	b := newInfo(t, "b")
	b.Key = a.Key // so that b can ingest a's record: the same blocks in two threads
	s.create(t, a)
	s.create(t, b)
	logKey := newLogKey(t)
	shared := s.blocksOf(t, a.ID, s.append(t, a.ID, logKey, "shared"))
	if _, _, err := s.ingest(t, b.ID, shared); err != nil {
		t.Fatal(err)
	}
	onlyA := s.blocksOf(t, a.ID, s.append(t, a.ID, logKey, "only in a"))
	indexed := s.keys(t, "thr/c")

	// Delete a, with a record appended to it in the same batch, then
	// create it again, append and delete it again, all in one batch.
	var inBatch, recreated threads.Record
	err := s.write(t, a.ID, func(batch *store.Batch) (err error) {
		if inBatch, err = s.Append(batch, a.ID, logKey, []byte("in the deleting batch"), time.Now()); err != nil {
			return err
		}
		if err := s.DeleteThread(batch, a.ID); err != nil {
			return err
		}
		if err := s.CreateThread(batch, a); err != nil {
			return err
		}
		if recreated, err = s.Append(batch, a.ID, logKey, []byte("recreated"), time.Now()); err != nil {
			return err
		}
		return s.DeleteThread(batch, a.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.wantBlocks(t, shared)
	s.wantNoBlocks(t, onlyA)
	s.wantNoBlocks(t, []threads.Block{{Cid: inBatch.Cid}, {Cid: inBatch.Event}, {Cid: recreated.Cid}, {Cid: recreated.Event}})
	if n := s.keys(t, "thr/c"); n != indexed-8 {
		t.Fatalf("%d block keys after deleting a; want %d (b's 4)", n, indexed-8)
	}

	if err := s.write(t, b.ID, func(batch *store.Batch) error { return s.DeleteThread(batch, b.ID) }); err != nil {
		t.Fatal(err)
	}
	s.wantNoBlocks(t, shared)
	if n := s.keys(t, "thr/c"); n != 0 {
		t.Fatalf("%d block keys after deleting every thread", n)
	}
}

// blockKeys counts the block keys of thread id.
func (s *testStore) blockKeys(t *testing.T, id threads.ID) int {
	t.Helper()
	n := 0
	if err := s.db.Scan([]byte(blockNS), func(key, _ []byte) error {
		if owner, ok := blockThread(key); ok && owner == id {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMoveBlocksByCID: a store written when blocks were kept per thread
// (thr/b<thread'><cid>, made here from a current one) has them moved to
// their CID keys by MoveBlocksByCID, and the old done-marker deleted. The
// store is left as a run stopped after its first batch leaves it (one
// block moved, the others not: each batch commits whole), so this is also
// the run after a crash.
func TestMoveBlocksByCID(t *testing.T) {
	s := newStore(t)
	info, logKey := s.newThread(t, "")
	var blocks []threads.Block
	for _, body := range []string{"one", "two", "three"} {
		blocks = append(blocks, s.blocksOf(t, info.ID, s.append(t, info.ID, logKey, body))...)
	}
	b := s.db.NewBatch()
	for _, blk := range blocks[1:] {
		b.Delete(blockKey(info.ID, blk.Cid))
		b.PutRaw(append(store.BinaryKey(store.LegacyThreadBlocks, info.ID.Bytes(), blk.Cid.ByteLen()), blk.Cid.Bytes()...), blk.Data)
	}
	b.PutRaw(movedKey, nil)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	s.wantNoBlocks(t, blocks[1:])

	n, err := MoveBlocksByCID(s.db)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(blocks)-1 {
		t.Fatalf("MoveBlocksByCID moved %d blocks; %d were left in the old layout", n, len(blocks)-1)
	}
	if ok, _ := s.db.Has(movedKey); ok {
		t.Fatal("the old done-marker is left")
	}
	s.wantBlocks(t, blocks)
	if recs, err := s.Records(info.ID, logID(t, logKey)); err != nil || len(recs) != 3 {
		t.Fatalf("records after the move: %d, %v", len(recs), err)
	}
	if n := s.keys(t, store.LegacyThreadBlocks); n != 0 {
		t.Fatalf("%d keys left in the old layout", n)
	}
	if n, err := MoveBlocksByCID(s.db); err != nil || n != 0 {
		t.Fatalf("MoveBlocksByCID again: %d, %v; want 0, nil", n, err)
	}
}

// TestDeleteThreadWithALostBlock: a thread whose log no longer walks (a
// record lost from the store) is deleted all the same, by looking at every
// block key; the other thread's blocks stay.
func TestDeleteThreadWithALostBlock(t *testing.T) {
	s := newStore(t)
	doomed, kept := newInfo(t, "doomed"), newInfo(t, "kept")
	s.create(t, doomed)
	s.create(t, kept)
	logKey := newLogKey(t)
	first := s.append(t, doomed.ID, logKey, "first")
	s.append(t, doomed.ID, logKey, "second")
	keptBlocks := s.blocksOf(t, kept.ID, s.append(t, kept.ID, logKey, "kept"))
	b := s.db.NewBatch()
	b.Delete(blockKey(doomed.ID, first.Cid))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.write(t, doomed.ID, func(batch *store.Batch) error { return s.DeleteThread(batch, doomed.ID) }); err != nil {
		t.Fatal(err)
	}
	if n := s.blockKeys(t, doomed.ID); n != 0 {
		t.Fatalf("%d blocks of the deleted thread left", n)
	}
	s.wantBlocks(t, keptBlocks)
}
