package logstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"crypto/rand"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"strings"
)

// testStore is a Store over a real pebble store in a temporary directory.
type testStore struct {
	*Store
	db     *store.Store
	dir    string
	closed bool
	// writeMu serialises the test's writes, from an append to the commit
	// of its batch, as a caller's per-thread lock would (Store keeps none).
	writeMu sync.Mutex
}

// Lock takes the write lock and returns the function that releases it.
func (s *testStore) Lock(threads.ID) (unlock func()) {
	s.writeMu.Lock()
	return s.writeMu.Unlock
}

func openStore(t testing.TB, dir string) *testStore {
	t.Helper()
	db, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s := &testStore{Store: NewStore(db), db: db, dir: dir}
	t.Cleanup(func() {
		if !s.closed {
			db.Close()
		}
	})
	return s
}

func newStore(t testing.TB) *testStore { return openStore(t, t.TempDir()) }

// reopen closes the store and opens it again from disk.
func (s *testStore) reopen(t testing.TB) *testStore {
	t.Helper()
	s.closed = true
	if err := s.db.Close(); err != nil {
		t.Fatal(err)
	}
	return openStore(t, s.dir)
}

// write runs fn under the thread's lock with a new batch, and commits it
// when fn succeeds.
func (s *testStore) write(t testing.TB, id threads.ID, fn func(b *store.Batch) error) error {
	t.Helper()
	unlock := s.Lock(id)
	defer unlock()
	b := s.db.NewBatch()
	if err := fn(b); err != nil {
		return err
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	return nil
}

func (s *testStore) create(t testing.TB, info Info) {
	t.Helper()
	if err := s.write(t, info.ID, func(b *store.Batch) error { return s.CreateThread(b, info) }); err != nil {
		t.Fatal(err)
	}
}

// newThread creates a thread named name in s and returns it, with a fresh
// log key to write to it.
func (s *testStore) newThread(t testing.TB, name string) (Info, crypto.PrivKey) {
	t.Helper()
	info := newInfo(t, name)
	s.create(t, info)
	return info, newLogKey(t)
}

func (s *testStore) append(t testing.TB, id threads.ID, logKey crypto.PrivKey, body string) threads.Record {
	t.Helper()
	var rec threads.Record
	err := s.write(t, id, func(b *store.Batch) (err error) {
		rec, err = s.Append(b, id, logKey, []byte(body), time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (s *testStore) ingest(t testing.TB, id threads.ID, blocks []threads.Block) (threads.Record, threads.Event, error) {
	t.Helper()
	var rec threads.Record
	var ev threads.Event
	err := s.write(t, id, func(b *store.Batch) (err error) {
		rec, ev, err = s.Ingest(b, id, blocks)
		return err
	})
	return rec, ev, err
}

// keys counts the stored keys under prefix.
func (s *testStore) keys(t testing.TB, prefix string) int {
	t.Helper()
	n := 0
	if err := s.db.Scan([]byte(prefix), func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// blocksOf returns what a peer sends for rec: the record block, then its
// event, header and body blocks.
func (s *testStore) blocksOf(t testing.TB, id threads.ID, rec threads.Record) []threads.Block {
	t.Helper()
	get := func(c cid.Cid) ([]byte, error) { return s.GetBlock(id, c) }
	header, body, err := threads.EventLinks(rec.Event, get)
	if err != nil {
		t.Fatal(err)
	}
	var out []threads.Block
	for _, c := range []cid.Cid{rec.Cid, rec.Event, header, body} {
		data, err := s.GetBlock(id, c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, threads.Block{Cid: c, Data: data})
	}
	return out
}

func newInfo(t testing.TB, name string) Info {
	t.Helper()
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return Info{ID: id, Key: newKey(t), Name: name, CreatedAt: time.Unix(1700000000, 42)}
}

func TestCreateThread(t *testing.T) {
	s := newStore(t)
	a, b := newInfo(t, "a"), newInfo(t, "b")
	s.create(t, a)
	s.create(t, b)
	got, err := s.Thread(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != a.ID || got.Key.String() != a.Key.String() || got.Name != "a" || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("got %+v", got)
	}
	if got, err := s.Thread(b.ID); err != nil || got.ID != b.ID {
		t.Fatalf("Thread(b) = %+v, %v", got, err)
	}

	err = s.write(t, a.ID, func(b *store.Batch) error { return s.CreateThread(b, a) })
	check(t, err, errors.Exist, "already exists")
	unknown := newInfo(t, "")
	_, err = s.Thread(unknown.ID)
	check(t, err, errors.NotExist, "does not exist")
	_, err = s.Logs(unknown.ID)
	check(t, err, errors.NotExist, "does not exist")
	err = s.write(t, "bad", func(b *store.Batch) error { return s.CreateThread(b, Info{ID: "bad", Key: a.Key}) })
	check(t, err, errors.Invalid, "thread ID")
	err = s.write(t, unknown.ID, func(b *store.Batch) error { return s.CreateThread(b, Info{ID: unknown.ID}) })
	check(t, err, errors.Invalid, "has no key")
}

// TestAppendChains appends to two logs, checks heads, counters and chains,
// and that all of it survives reopening the store.
func TestAppendChains(t *testing.T) {
	s := newStore(t)
	info := newInfo(t, "")
	s.create(t, info)
	alice, bob := newLogKey(t), newLogKey(t)
	var recs []threads.Record
	for i := range 3 {
		recs = append(recs, s.append(t, info.ID, alice, fmt.Sprintf("alice %d", i)))
	}
	s.append(t, info.ID, bob, "bob 0")
	for i, rec := range recs {
		want := cid.Undef
		if i > 0 {
			want = recs[i-1].Cid
		}
		if !rec.Prev.Equals(want) {
			t.Fatalf("record %d follows %s, want %s", i, rec.Prev, want)
		}
	}

	s = s.reopen(t)
	aliceID := logID(t, alice)
	l, err := s.Log(info.ID, aliceID)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Head.Equals(recs[2].Cid) || l.Counter != 3 || l.PrivKey == nil || !l.PrivKey.Equals(alice) || !l.PubKey.Equals(alice.GetPublic()) {
		t.Fatalf("log after reopening: %+v", l)
	}
	logs, err := s.Logs(info.ID)
	if err != nil || len(logs) != 2 {
		t.Fatalf("Logs = %d, %v", len(logs), err)
	}
	got, err := s.Records(info.ID, aliceID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if !got[i].Cid.Equals(recs[i].Cid) {
			t.Fatalf("record %d is %s, want %s", i, got[i].Cid, recs[i].Cid)
		}
		ev, err := threads.OpenEvent(info.Key, got[i], func(c cid.Cid) ([]byte, error) { return s.GetBlock(info.ID, c) })
		if err != nil || string(ev.Body) != fmt.Sprintf("alice %d", i) {
			t.Fatalf("event %d: %q, %v", i, ev.Body, err)
		}
	}
	next := s.append(t, info.ID, alice, "alice 3")
	if !next.Prev.Equals(recs[2].Cid) {
		t.Fatalf("after reopening the log continues from %s, want %s", next.Prev, recs[2].Cid)
	}
	_, err = s.Log(info.ID, peer.ID("nobody"))
	check(t, err, errors.NotExist, "has no log")
}

// TestAppendBatches checks the pending view: writes in one batch see each
// other; a dropped batch leaves nothing behind.
func TestAppendBatches(t *testing.T) {
	s := newStore(t)
	info := newInfo(t, "")
	logKey := newLogKey(t)
	lid := logID(t, logKey)

	t.Run("create and append in one batch", func(t *testing.T) {
		var first, second threads.Record
		err := s.write(t, info.ID, func(b *store.Batch) (err error) {
			if err = s.CreateThread(b, info); err != nil {
				return err
			}
			if first, err = s.Append(b, info.ID, logKey, []byte("1"), time.Now()); err != nil {
				return err
			}
			second, err = s.Append(b, info.ID, logKey, []byte("2"), time.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !second.Prev.Equals(first.Cid) {
			t.Fatal("second append in a batch did not follow the first")
		}
		if recs, err := s.Records(info.ID, lid); err != nil || len(recs) != 2 {
			t.Fatalf("Records = %d, %v", len(recs), err)
		}
	})

	t.Run("dropped batch", func(t *testing.T) {
		head, _ := s.Log(info.ID, lid)
		unlock := s.Lock(info.ID)
		dropped := s.db.NewBatch()
		if _, err := s.Append(dropped, info.ID, logKey, []byte("never"), time.Now()); err != nil {
			t.Fatal(err)
		}
		b := s.db.NewBatch()
		rec, err := s.Append(b, info.ID, logKey, []byte("3"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		unlock()
		if !rec.Prev.Equals(head.Head) {
			t.Fatalf("append after a dropped batch follows %s, want the committed head %s", rec.Prev, head.Head)
		}
		if recs, err := s.Records(info.ID, lid); err != nil || len(recs) != 3 {
			t.Fatalf("Records = %d, %v", len(recs), err)
		}
	})

	t.Run("replicator cannot append", func(t *testing.T) {
		r := newStore(t)
		r.create(t, Info{ID: info.ID, Key: info.Key.ServiceOnly()})
		err := r.write(t, info.ID, func(b *store.Batch) error {
			_, err := r.Append(b, info.ID, logKey, []byte("x"), time.Now())
			return err
		})
		check(t, err, errors.Permission, "needs the read key")
	})
}

// TestConcurrentAppends has writers race on one thread, some sharing a
// log, each append and commit under the caller's lock: every chain must
// come out whole.
func TestConcurrentAppends(t *testing.T) {
	s := newStore(t)
	info := newInfo(t, "")
	s.create(t, info)
	keys := []crypto.PrivKey{newLogKey(t), newLogKey(t)}
	const writers, each = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				unlock := s.Lock(info.ID)
				b := s.db.NewBatch()
				_, err := s.Append(b, info.ID, keys[w%2], fmt.Appendf(nil, "%d/%d", w, i), time.Now())
				if err == nil {
					err = b.Commit()
				}
				unlock()
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, k := range keys {
		lid := logID(t, k)
		recs, err := s.Records(info.ID, lid)
		if err != nil || len(recs) != writers*each/2 {
			t.Fatalf("Records = %d, %v", len(recs), err)
		}
	}
}

// replica makes a second store holding thread info with key.
func replica(t *testing.T, info Info, key threads.Key) *testStore {
	r := newStore(t)
	r.create(t, Info{ID: info.ID, Key: key, CreatedAt: info.CreatedAt})
	return r
}

func TestIngestInOrder(t *testing.T) {
	src := newStore(t)
	info, logKey := src.newThread(t, "")
	var recs []threads.Record
	for i := range 3 {
		recs = append(recs, src.append(t, info.ID, logKey, fmt.Sprintf("event %d", i)))
	}
	lid := recs[0].LogID

	t.Run("reader", func(t *testing.T) {
		r := replica(t, info, info.Key)
		for i, rec := range recs {
			got, ev, err := r.ingest(t, info.ID, src.blocksOf(t, info.ID, rec))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Cid.Equals(rec.Cid) || string(ev.Body) != fmt.Sprintf("event %d", i) {
				t.Fatalf("ingested %s %q", got.Cid, ev.Body)
			}
		}
		r = r.reopen(t)
		l, err := r.Log(info.ID, lid)
		if err != nil || !l.Head.Equals(recs[2].Cid) || l.Counter != 3 || l.PrivKey != nil {
			t.Fatalf("log %+v, %v", l, err)
		}
		if got, err := r.Records(info.ID, lid); err != nil || len(got) != 3 {
			t.Fatalf("Records = %d, %v", len(got), err)
		}
	})

	t.Run("reader, one batch", func(t *testing.T) {
		r := replica(t, info, info.Key)
		err := r.write(t, info.ID, func(b *store.Batch) error {
			for _, rec := range recs {
				if _, _, err := r.Ingest(b, info.ID, src.blocksOf(t, info.ID, rec)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := r.Records(info.ID, lid); err != nil || len(got) != 3 {
			t.Fatalf("Records = %d, %v", len(got), err)
		}
	})

	t.Run("replicator", func(t *testing.T) {
		r := replica(t, info, info.Key.ServiceOnly())
		for _, rec := range recs {
			_, ev, err := r.ingest(t, info.ID, src.blocksOf(t, info.ID, rec))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Body != nil || !ev.Time.IsZero() {
				t.Fatal("a replicator got an event")
			}
		}
		got, err := r.Records(info.ID, lid)
		if err != nil || len(got) != 3 {
			t.Fatalf("Records = %d, %v", len(got), err)
		}
		// A reader fetching from the replicator opens every event.
		ev, err := threads.OpenEvent(info.Key, got[1], func(c cid.Cid) ([]byte, error) { return r.GetBlock(info.ID, c) })
		if err != nil || string(ev.Body) != "event 1" {
			t.Fatalf("event through the replicator: %q, %v", ev.Body, err)
		}
		_, err = threads.OpenEvent(r.mustThread(t, info.ID).Key, got[1], func(c cid.Cid) ([]byte, error) { return r.GetBlock(info.ID, c) })
		check(t, err, errors.Permission, "needs the read key")
	})

	t.Run("writer ingests its own log from another device", func(t *testing.T) {
		r := replica(t, info, info.Key)
		r.ingest(t, info.ID, src.blocksOf(t, info.ID, recs[0]))
		next := r.append(t, info.ID, logKey, "from the second device")
		if !next.Prev.Equals(recs[0].Cid) {
			t.Fatal("append did not follow the ingested head")
		}
		l, _ := r.Log(info.ID, lid)
		if l.PrivKey == nil || l.Counter != 2 {
			t.Fatalf("log %+v", l)
		}
	})
}

func (s *testStore) mustThread(t *testing.T, id threads.ID) Info {
	info, err := s.Thread(id)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestIngestRefuses sends records that must be refused, and checks that
// each refusal names the problem and stores nothing.
func TestIngestRefuses(t *testing.T) {
	src := newStore(t)
	info, logKey := src.newThread(t, "")
	r1 := src.append(t, info.ID, logKey, "one")
	r2 := src.append(t, info.ID, logKey, "two")
	b1, b2 := src.blocksOf(t, info.ID, r1), src.blocksOf(t, info.ID, r2)
	// fork is another second record, following r1 like r2 does.
	_, forkBlocks, _ := threads.NewRecord(info.Key, logKey, r1.Cid, []byte("fork"), time.Now())
	// restart is another first record for the same log.
	_, restartBlocks, _ := threads.NewRecord(info.Key, logKey, cid.Undef, []byte("again"), time.Now())
	otherThread := newInfo(t, "")
	_, foreign, _ := threads.NewRecord(otherThread.Key, logKey, cid.Undef, []byte("x"), time.Now())
	sameService, _ := threads.KeyFromBytes(append(info.Key.Service().Bytes(), newKey(t).Bytes()[32:]...))
	tamperedBody := bytes.Clone(b1[3].Data)
	tamperedBody[len(tamperedBody)-1] ^= 1

	for _, tc := range []struct {
		name    string
		key     threads.Key     // the receiving thread's key
		before  []threads.Block // ingested first, successfully
		blocks  []threads.Block
		kind    errors.Kind
		why     string
		records int64 // the log's counter afterwards
	}{
		{"out of order", info.Key, nil, b2, errors.FailedPrecondition, "follows record " + r1.Cid.String() + ", which thread", 0},
		{"duplicate", info.Key, b1, b1, errors.Exist, "already in log", 1},
		{"fork", info.Key, slices.Concat(b1, b2), forkBlocks, errors.FailedPrecondition, "follows " + r1.Cid.String() + ", which is not the head", 2},
		{"restart", info.Key, b1, restartBlocks, errors.FailedPrecondition, "starts log", 1},
		{"another thread's record", info.Key, nil, foreign, errors.Permission, "does not open with this thread's service key", 0},
		{"another read key", sameService, nil, b1, errors.Permission, "does not open with this thread's read key", 0},
		{"tampered body", info.Key, nil, []threads.Block{b1[0], b1[1], b1[2], {Cid: b1[3].Cid, Data: tamperedBody}}, errors.Invalid, "bytes hash to", 0},
		{"tampered record", info.Key, nil, slices.Concat([]threads.Block{{Cid: b1[0].Cid, Data: tamperedBody}}, b1[1:]), errors.Invalid, "bytes hash to", 0},
		{"body missing", info.Key, nil, b1[:3], errors.Invalid, "not sent with record", 0},
		{"unrelated block", info.Key, nil, slices.Concat(b1, b2[3:]), errors.Invalid, "is not part of record", 0},
		{"event first", info.Key, nil, b1[1:], errors.Invalid, "record", 0},
		{"nothing", info.Key, nil, nil, errors.Invalid, "no blocks", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := replica(t, info, tc.key)
			for _, blk := range chunks(tc.before) {
				if _, _, err := r.ingest(t, info.ID, blk); err != nil {
					t.Fatal(err)
				}
			}
			keysBefore := r.keys(t, "thr/")
			_, _, err := r.ingest(t, info.ID, tc.blocks)
			check(t, err, tc.kind, tc.why)
			if n := r.keys(t, "thr/"); n != keysBefore {
				t.Fatalf("a refused record changed the store: %d keys, was %d", n, keysBefore)
			}
			l, err := r.Log(info.ID, r1.LogID)
			if tc.records == 0 {
				check(t, err, errors.NotExist, "has no log")
			} else if err != nil || l.Counter != tc.records {
				t.Fatalf("log after refusal: %+v, %v", l, err)
			}
		})
	}
}

// TestIngestRefusesOwnLog: a store does not ingest records of a log it
// writes itself, even ones that extend it: its own writes make them.
func TestIngestRefusesOwnLog(t *testing.T) {
	s := newStore(t)
	info, logKey := s.newThread(t, "")
	r1 := s.append(t, info.ID, logKey, "one")
	_, next, err := threads.NewRecord(info.Key, logKey, r1.Cid, []byte("two"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keysBefore := s.keys(t, "thr/")
	_, _, err = s.ingest(t, info.ID, next)
	check(t, err, errors.FailedPrecondition, "which this store writes itself")
	if n := s.keys(t, "thr/"); n != keysBefore {
		t.Fatalf("a refused record changed the store: %d keys, was %d", n, keysBefore)
	}
}

// chunks splits a run of records' blocks (four per record) into records.
func chunks(blocks []threads.Block) [][]threads.Block {
	var out [][]threads.Block
	for len(blocks) >= 4 {
		out = append(out, blocks[:4])
		blocks = blocks[4:]
	}
	return out
}

func TestRecordsDetectsCorruption(t *testing.T) {
	s := newStore(t)
	info, logKey := s.newThread(t, "")
	r1 := s.append(t, info.ID, logKey, "one")
	r2 := s.append(t, info.ID, logKey, "two")

	// A record replaced on disk by another, valid, block of the thread.
	b := s.db.NewBatch()
	data, _ := s.GetBlock(info.ID, r2.Event)
	b.PutRaw(blockKey(info.ID, r1.Cid), data)
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Records(info.ID, r1.LogID)
	check(t, err, errors.Internal, "stored record")

	// A record lost.
	b = s.db.NewBatch()
	b.Delete(blockKey(info.ID, r1.Cid))
	b.Commit()
	_, err = s.Records(info.ID, r1.LogID)
	check(t, err, errors.Internal, r1.Cid.String())
}

func TestDeleteThread(t *testing.T) {
	s := newStore(t)
	doomed, kept := newInfo(t, "doomed"), newInfo(t, "kept")
	s.create(t, doomed)
	s.create(t, kept)
	logKey := newLogKey(t)
	s.append(t, doomed.ID, logKey, "x")
	s.append(t, kept.ID, logKey, "y")
	before := s.keys(t, "thr/")

	// A write in the same batch as the delete goes too.
	err := s.write(t, doomed.ID, func(b *store.Batch) error {
		if _, err := s.Append(b, doomed.ID, logKey, []byte("z"), time.Now()); err != nil {
			return err
		}
		if err := s.DeleteThread(b, doomed.ID); err != nil {
			return err
		}
		_, err := s.Append(b, doomed.ID, logKey, []byte("after"), time.Now())
		check(t, err, errors.NotExist, "does not exist")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range [][]byte{infoKey(doomed.ID), logPrefix(doomed.ID), headPrefix(doomed.ID), seqPrefix(doomed.ID)} {
		if n := s.keys(t, string(prefix)); n != 0 {
			t.Fatalf("%d keys left under %q", n, prefix)
		}
	}
	if n := s.blockKeys(t, doomed.ID); n != 0 {
		t.Fatalf("%d blocks of the deleted thread left", n)
	}
	// 1 info, 1 log's keys, its head and its record's position, 4 blocks.
	if n := s.keys(t, "thr/"); n != before-8 {
		t.Fatalf("%d keys left, want %d", n, before-8)
	}
	if recs, err := s.Records(kept.ID, logID(t, logKey)); err != nil || len(recs) != 1 {
		t.Fatalf("the other thread: %d records, %v", len(recs), err)
	}
	err = s.write(t, doomed.ID, func(b *store.Batch) error { return s.DeleteThread(b, doomed.ID) })
	check(t, err, errors.NotExist, "does not exist")
}

// TestDeleteThreadWhoseIDStartsAnother checks that the binary keys of a
// thread whose ID's bytes are the start of another's do not cover the
// other's: deleting the shorter one leaves the longer one whole.
func TestDeleteThreadWhoseIDStartsAnother(t *testing.T) {
	s := newStore(t)
	short, long := newInfo(t, "short"), newInfo(t, "long")
	var err error
	if long.ID, err = threads.Cast(append(short.ID.Bytes(), 7)); err != nil {
		t.Fatal(err)
	}
	s.create(t, short)
	s.create(t, long)
	logKey := newLogKey(t)
	s.append(t, short.ID, logKey, "x")
	s.append(t, long.ID, logKey, "y")
	s.append(t, long.ID, logKey, "z")
	if err := s.write(t, short.ID, func(b *store.Batch) error { return s.DeleteThread(b, short.ID) }); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Records(long.ID, logID(t, logKey))
	if err != nil || len(recs) != 2 {
		t.Fatalf("the longer thread after deleting the shorter: %d records, %v", len(recs), err)
	}
	if _, err := s.Log(short.ID, logID(t, logKey)); !errors.Is(errors.NotExist, err) {
		t.Fatalf("the deleted thread's log: %v", err)
	}
}

// logID is the log ID of k.
func logID(t testing.TB, k crypto.PrivKey) peer.ID {
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestPendingIsForgotten checks that the pending view of batches that are
// gone does not pile up.
func TestPendingIsForgotten(t *testing.T) {
	s := newStore(t)
	const made = 1000
	for i := range made {
		id, _ := threads.NewID(threads.Raw)
		s.view(id, s.db.NewBatch()) // a batch dropped at once
		if i%100 == 0 {
			runtime.GC()
		}
	}
	s.mu.Lock()
	n := len(s.pending)
	s.mu.Unlock()
	t.Logf("%d remembered", n)
	if n > 300 {
		t.Fatalf("%d of %d dropped batches still remembered", n, made)
	}
}

func newLogKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t testing.TB) threads.Key {
	t.Helper()
	k, err := threads.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// check fails t unless err has kind and its text contains want.
func check(t *testing.T, err error, kind errors.Kind, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v containing %q", kind, want)
	}
	if !errors.Is(kind, err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q (%v); want %v containing %q", err, errors.KindOf(err), kind, want)
	}
}
