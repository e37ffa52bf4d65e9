// Package logstore keeps threads in Hub's embedded key-value store: each
// thread's info and key, its writers' logs (heads and counters) and the
// blocks of their records, written in the caller's batches so that a
// change and the record that carries it commit together. Records and
// blocks themselves are package threads' business; this package chains,
// verifies and stores them.
package logstore

import (
	"bytes"
	"encoding/binary"
	"sync"
	"time"
	"weak"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// Store keeps threads, their logs and their blocks in the embedded store,
// under these keys:
//
//	thr/i/<thread>          Info as JSON
//	thr/l/<thread>/<log>    a log's keys: public key, private key if local (JSON)
//	thr/h<thread'><log'>    a log's head: uvarint counter || head CID bytes
//	thr/c<cid"><thread>     a block's bytes
//	thr/n<thread'><log"><n> the CID of the log's record number n (from 1)
//
// with the thread ID in base32 and log IDs in base58 in the text keys.
// The keys written on every append, heads and blocks, are binary (thread'
// is uvarint(len) || ID bytes, cid" and log" uvarint(len) || their bytes,
// thread and log' their bytes, n 8 bytes big-endian) and a head holds only what an append changes: each
// append is synced with the next durable write, and a sync here costs
// more the more bytes it carries; the text forms spelt out the thread ID
// and CIDs in 59 bytes each and rewrote the log's keys every time.
//
// Blocks are keyed by CID first, so that one is found by its CID alone
// (BlockByCID), which is how IPFS peers ask for blocks over bitswap, with
// no index beside them (one was: four more keys an append cost the
// writers 7 %). Serving blocks to anyone who names their CID gives nothing
// away: a record is encrypted with the thread's service key, an event's
// header with its read key and its body with a key only the header holds,
// and a CID is a hash no one guesses. The thread comes second because one
// block can be in two threads (the same record ingested into two threads
// that share a key, or equal inputs: blocks are derived from them alone),
// and deleting one thread must not take the other's copy. Deleting a
// thread walks its logs to find its blocks (DeleteThread).
//
// Writes go into a caller's *store.Batch so that a database change and the
// record that carries it commit together. A write reads the log heads it
// builds on, so writes to one thread must be serialised from that read to
// the commit of their batch, by the caller's own per-thread lock (threads/db
// holds one per DB, its former's log lock). Several writes to one thread
// may share a batch and see each other (a thread created and
// its first record appended, a run of ingested records); a batch that is
// dropped instead of committed leaves nothing behind, and the next batch
// builds on what is committed. Reads (Thread, Log, Records, GetBlock…) see
// committed state only.
type Store struct {
	db *store.Store

	mu      sync.Mutex              // guards the fields below
	pending map[threads.ID]*pending // the latest batch written to each thread
	sweepAt int                     // size of pending at which to drop finished batches
}

// pending is a thread as written to one batch that may not be committed
// yet: created or deleted there, its logs' new heads, the blocks added. The
// batch is held weakly, only to recognise it: once it is committed or
// dropped, the next batch starts from committed state, and once it is
// garbage the entry can go. batch is set at creation; the other fields are
// used only by the thread's writer, whom the caller serialises.
type pending struct {
	batch  weak.Pointer[store.Batch]
	info   *Info // created in batch, or read by one of its writes
	wiped  bool  // deleted in batch: the stored thread, logs and blocks are gone
	logs   map[peer.ID]LogInfo
	blocks map[cid.Cid]bool
}

// minSweep is the smallest pending map that is swept for finished batches.
const minSweep = 64

// Info describes a thread.
type Info struct {
	ID        threads.ID
	Key       threads.Key
	Name      string // optional, for people
	CreatedAt time.Time
}

// infoJSON is how Info is stored.
type infoJSON struct {
	ID        string `json:"id"`
	Key       string `json:"key"`
	Name      string `json:"name,omitempty"`
	CreatedAt int64  `json:"createdAt"` // Unix ns
}

// NewStore returns a Store over db.
func NewStore(db *store.Store) *Store {
	return &Store{db: db, pending: make(map[threads.ID]*pending), sweepAt: minSweep}
}

// view returns the pending state of thread id in batch b. A batch other
// than the last one seen means that one was committed or dropped (writes
// are serialised until then), so the store is the truth again.
func (s *Store) view(id threads.ID, b *store.Batch) *pending {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := weak.Make(b)
	if p := s.pending[id]; p != nil && p.batch == w {
		return p
	}
	p := &pending{batch: w, logs: make(map[peer.ID]LogInfo), blocks: make(map[cid.Cid]bool)}
	s.pending[id] = p
	if len(s.pending) >= s.sweepAt {
		// Amortised: the map at least doubles between sweeps.
		for tid, q := range s.pending {
			if q.batch.Value() == nil {
				delete(s.pending, tid)
			}
		}
		s.sweepAt = max(minSweep, 2*len(s.pending))
	}
	return p
}

// CreateThread adds a thread to b. It fails with Exist when the thread is
// already there and Invalid when info's ID or key is malformed.
func (s *Store) CreateThread(b *store.Batch, info Info) error {
	const op errors.Op = "logstore.CreateThread"
	if err := info.ID.Validate(); err != nil {
		return errors.E(op, errors.Invalid, err)
	}
	if !info.Key.Defined() {
		return errors.Errorf(op, errors.Invalid, "thread %s has no key", info.ID)
	}
	p := s.view(info.ID, b)
	if _, err := s.info(p, info.ID); err == nil {
		return errors.Errorf(op, errors.Exist, "thread %s already exists", info.ID)
	} else if !errors.Is(errors.NotExist, err) {
		return errors.E(op, err)
	}
	b.Put(infoKey(info.ID), infoJSON{
		ID:        info.ID.String(),
		Key:       info.Key.String(),
		Name:      info.Name,
		CreatedAt: info.CreatedAt.UnixNano(),
	})
	p.info = &info
	return nil
}

// Thread returns the thread id, or a NotExist error.
func (s *Store) Thread(id threads.ID) (Info, error) {
	const op errors.Op = "logstore.Thread"
	info, err := s.readInfo(id)
	if err != nil {
		return Info{}, errors.E(op, err)
	}
	return info, nil
}

// DeleteThread removes thread id, its logs and its blocks in b, or fails
// with NotExist. Blocks are keyed by CID first, so they go one by one:
// those put earlier in this batch, and the committed ones, found by
// walking each log from its head.
func (s *Store) DeleteThread(b *store.Batch, id threads.ID) error {
	const op errors.Op = "logstore.DeleteThread"
	p := s.view(id, b)
	if _, err := s.info(p, id); err != nil {
		return errors.E(op, err)
	}
	for c := range p.blocks {
		b.Delete(blockKey(id, c))
	}
	if !p.wiped { // else its committed blocks are deleted in b already
		if err := s.deleteCommittedBlocks(b, id); err != nil {
			return errors.E(op, err)
		}
	}
	// Range deletions: constant work however big the thread, and they
	// cover what was put earlier in this batch too.
	b.Delete(infoKey(id))
	b.DeletePrefix(logPrefix(id))
	b.DeletePrefix(headPrefix(id))
	b.DeletePrefix(seqPrefix(id))
	p.info, p.wiped, p.logs, p.blocks = nil, true, make(map[peer.ID]LogInfo), make(map[cid.Cid]bool)
	return nil
}

// deleteCommittedBlocks deletes in b the committed blocks of thread id:
// each record of each log, and its event, header and body. Should a log
// not walk (a block lost from the store), every block key is looked at
// instead, which costs a scan of all threads' blocks but leaves none.
func (s *Store) deleteCommittedBlocks(b *store.Batch, id threads.ID) error {
	info, err := s.readInfo(id)
	if errors.Is(errors.NotExist, err) {
		return nil // made in this batch: nothing committed
	}
	if err != nil {
		return err
	}
	logs, err := s.Logs(id)
	if err != nil {
		return err
	}
	get := func(c cid.Cid) ([]byte, error) { return s.db.GetRaw(blockKey(id, c)) }
	var found []cid.Cid
	walk := func() error {
		for _, l := range logs {
			for c := l.Head; c.Defined(); {
				data, err := get(c)
				if err != nil {
					return err
				}
				prev, event, err := threads.RecordLinks(info.Key, threads.Block{Cid: c, Data: data})
				if err != nil {
					return err
				}
				header, body, err := threads.EventLinks(event, get)
				if err != nil {
					return err
				}
				found = append(found, c, event, header, body)
				c = prev
			}
		}
		return nil
	}
	if walk() == nil {
		for _, c := range found {
			b.Delete(blockKey(id, c))
		}
		return nil
	}
	return s.db.Scan([]byte(blockNS), func(key, _ []byte) error {
		if owner, ok := blockThread(key); ok && owner == id {
			b.Delete(key)
		}
		return nil
	})
}

// GetBlock returns the bytes of block c of thread id, or NotExist. Blocks
// are returned as stored: callers that hand them on need not re-check them,
// and callers that decode them use DecodeRecord or OpenEvent, which do.
func (s *Store) GetBlock(id threads.ID, c cid.Cid) ([]byte, error) {
	const op errors.Op = "logstore.GetBlock"
	data, err := s.db.GetRaw(blockKey(id, c))
	if errors.Is(errors.NotExist, err) {
		return nil, errors.Errorf(op, errors.NotExist, "thread %s has no block %s", id, c)
	}
	if err != nil {
		return nil, errors.E(op, err)
	}
	return data, nil
}

// BlockByCID returns the bytes of block c from whichever thread holds it,
// or NotExist. Like GetBlock it sees committed state only, and returns
// blocks as stored.
func (s *Store) BlockByCID(c cid.Cid) ([]byte, error) {
	const op errors.Op = "logstore.BlockByCID"
	data, err := s.findBlock(c)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if data == nil {
		return nil, errors.Errorf(op, errors.NotExist, "no thread holds block %s", c)
	}
	return data, nil
}

// HasBlock reports whether some thread holds block c (committed).
func (s *Store) HasBlock(c cid.Cid) (bool, error) {
	const op errors.Op = "logstore.HasBlock"
	data, err := s.findBlock(c)
	if err != nil {
		return false, errors.E(op, err)
	}
	return data != nil, nil
}

// findBlock returns block c from the first thread that holds it, or nil.
func (s *Store) findBlock(c cid.Cid) ([]byte, error) {
	var found []byte
	err := s.db.Scan(cidPrefix(c, 0), func(_, data []byte) error {
		found = bytes.Clone(data)
		return errFound
	})
	if err != nil && err != errFound {
		return nil, err
	}
	return found, nil
}

// errFound ends a scan that found what it looked for.
var errFound = errors.New("found")

// MoveBlocksByCID is the store's migration to store.FormatBlocksByCID: it
// moves the blocks of a store written before blocks were keyed by CID
// (thr/b<thread'><cid>) to their keys, and deletes the marker that hubs
// before format versions left once they had. It returns how many it
// moved. Each batch moves some blocks whole (puts the new key, deletes the
// old), so a run stopped at any point leaves every block under one key or
// the other, and the next run moves the rest.
func MoveBlocksByCID(st *store.Store) (int, error) {
	const op errors.Op = "logstore.MoveBlocksByCID"
	const perBatch = 4096
	b, n := st.NewBatch(), 0
	old := []byte(store.LegacyThreadBlocks)
	err := st.Scan(old, func(key, val []byte) error {
		// thr/b || uvarint(len(thread)) || thread || CID bytes
		l, k := binary.Uvarint(key[len(old):])
		start := len(old) + k
		if k <= 0 || uint64(len(key)-start) < l {
			return errors.Errorf("", errors.Internal, "block key %q is malformed", key)
		}
		c, err := cid.Cast(key[start+int(l):])
		if err != nil {
			return errors.Errorf("", errors.Internal, "block key %q: %v", key, err)
		}
		b.PutRaw(blockKey(threads.ID(key[start:start+int(l)]), c), val)
		b.Delete(key)
		if n++; n%perBatch == 0 {
			if err := b.Commit(); err != nil {
				return err
			}
			b = st.NewBatch()
		}
		return nil
	})
	if err != nil {
		return n, errors.E(op, err)
	}
	b.Delete(movedKey)
	if err := b.Commit(); err != nil {
		return n, errors.E(op, err)
	}
	return n, nil
}

// info returns thread id as seen by pending writes. What it reads is
// kept for the batch's next writes: decoding the stored Info (its key
// above all) costs more than forming a small record.
func (s *Store) info(p *pending, id threads.ID) (Info, error) {
	switch {
	case p.info != nil:
		return *p.info, nil
	case p.wiped:
		return Info{}, errors.Errorf("", errors.NotExist, "thread %s does not exist", id)
	}
	info, err := s.readInfo(id)
	if err != nil {
		return Info{}, err
	}
	p.info = &info
	return info, nil
}

// readInfo returns the committed Info of thread id.
func (s *Store) readInfo(id threads.ID) (Info, error) {
	var v infoJSON
	if err := s.db.Get(infoKey(id), &v); err != nil {
		if errors.Is(errors.NotExist, err) {
			return Info{}, errors.Errorf("", errors.NotExist, "thread %s does not exist", id)
		}
		return Info{}, err
	}
	info, err := v.decode()
	if err != nil {
		return Info{}, errors.Errorf("", errors.Internal, "stored thread %s: %v", id, err)
	}
	return info, nil
}

func (v *infoJSON) decode() (Info, error) {
	id, err := threads.Decode(v.ID)
	if err != nil {
		return Info{}, err
	}
	key, err := threads.KeyFromString(v.Key)
	if err != nil {
		return Info{}, err
	}
	return Info{ID: id, Key: key, Name: v.Name, CreatedAt: time.Unix(0, v.CreatedAt)}, nil
}

// has reports whether thread id holds block c, as seen by pending writes.
func (s *Store) has(p *pending, id threads.ID, c cid.Cid) (bool, error) {
	if p.blocks[c] {
		return true, nil
	}
	if p.wiped {
		return false, nil
	}
	return s.db.Has(blockKey(id, c))
}

// committedBlock returns block c of thread id if it is committed (and not
// deleted by pending writes). Blocks are only ever added with the record
// that needs them, so a record never needs a block that is only pending.
func (s *Store) committedBlock(p *pending, id threads.ID, c cid.Cid) ([]byte, bool, error) {
	if p.wiped {
		return nil, false, nil
	}
	data, err := s.db.GetRaw(blockKey(id, c))
	if errors.Is(errors.NotExist, err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

func infoKey(id threads.ID) []byte   { return store.Key(store.ThreadInfos, id.String()) }
func logPrefix(id threads.ID) []byte { return append(store.Key(store.ThreadLogs, id.String()), '/') }
func logKey(id threads.ID, lid peer.ID) []byte {
	return store.Key(store.ThreadLogs, id.String(), lid.String())
}
func headPrefix(id threads.ID) []byte { return store.BinaryKey(store.ThreadHeads, id.Bytes(), 0) }
func headKey(id threads.ID, lid peer.ID) []byte {
	return append(store.BinaryKey(store.ThreadHeads, id.Bytes(), len(lid)), lid...)
}

func seqPrefix(id threads.ID) []byte { return store.BinaryKey(store.ThreadSeq, id.Bytes(), 0) }

// seqKey is the key of the position of record number n of log lid.
func seqKey(id threads.ID, lid peer.ID, n int64) []byte {
	k := store.BinaryKey(store.ThreadSeq, id.Bytes(), binary.MaxVarintLen64+len(lid)+8)
	k = binary.AppendUvarint(k, uint64(len(lid)))
	return binary.BigEndian.AppendUint64(append(k, lid...), uint64(n))
}

// blockNS starts every block key: blockNS || cid" || thread bytes.
const blockNS = store.ThreadBlocks

// cidPrefix is the start of the keys of block c in any thread, with room
// for extra more bytes.
func cidPrefix(c cid.Cid, extra int) []byte {
	k := make([]byte, 0, len(blockNS)+binary.MaxVarintLen64+c.ByteLen()+extra)
	k = binary.AppendUvarint(append(k, blockNS...), uint64(c.ByteLen()))
	return append(k, c.KeyString()...)
}

// blockKey is the key of block c of thread id.
func blockKey(id threads.ID, c cid.Cid) []byte { return append(cidPrefix(c, len(id)), id...) }

// blockThread returns the thread of a block key.
func blockThread(key []byte) (threads.ID, bool) {
	l, k := binary.Uvarint(key[len(blockNS):])
	start := len(blockNS) + k
	if k <= 0 || uint64(len(key)-start) < l {
		return "", false
	}
	return threads.ID(key[start+int(l):]), true
}

// movedKey marked a store whose blocks were all keyed by CID, before
// stores had format versions.
var movedKey = store.Key(store.LegacyBlocksMoved, "blocks-by-cid")
