package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// LogInfo describes one writer's log in a thread.
type LogInfo struct {
	ID      peer.ID        // the peer ID of PubKey
	PubKey  crypto.PubKey  // the writer's Ed25519 key, which signs the records
	PrivKey crypto.PrivKey // nil unless this peer writes the log
	Head    cid.Cid        // the latest record; cid.Undef in a log with none
	Counter int64          // how many records the log holds
}

// logJSON is how a log's keys are stored; its head and counter are
// stored apart (encodeHead), since every append changes them and nothing
// else.
type logJSON struct {
	PubKey  []byte `json:"pubKey"`            // libp2p-marshalled
	PrivKey []byte `json:"privKey,omitempty"` // libp2p-marshalled
}

// Log returns log lid of thread id, or NotExist.
func (s *Store) Log(id threads.ID, lid peer.ID) (LogInfo, error) {
	const op errors.Op = "logstore.Log"
	if _, err := s.readInfo(id); err != nil {
		return LogInfo{}, errors.E(op, err)
	}
	l, err := s.readLog(id, lid)
	if err != nil {
		return LogInfo{}, errors.E(op, err)
	}
	return l, nil
}

// Logs returns the logs of thread id, or NotExist when there is no such
// thread.
func (s *Store) Logs(id threads.ID) ([]LogInfo, error) {
	const op errors.Op = "logstore.Logs"
	if _, err := s.readInfo(id); err != nil {
		return nil, errors.E(op, err)
	}
	var out []LogInfo
	err := store.ScanJSON(s.db, logPrefix(id), func(key []byte, v *logJSON) error {
		lid, err := peer.Decode(string(key[len(logPrefix(id)):]))
		if err != nil {
			return errors.Errorf(op, errors.Internal, "stored log %s: %v", key, err)
		}
		l, err := v.decode(lid)
		if err != nil {
			return errors.Errorf(op, errors.Internal, "stored log %s: %v", key, err)
		}
		if err := s.readHead(id, &l); err != nil {
			return errors.E(op, err)
		}
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, errors.E(op, err)
	}
	return out, nil
}

// Append writes an event carrying body to logKey's log in thread id, into
// b: the record, its event blocks and the log's new head. The log is
// created on first use, and its private key kept. It needs the thread's
// read key (Permission without it). The caller serialises writes to the
// thread (see Store).
func (s *Store) Append(b *store.Batch, id threads.ID, logKey crypto.PrivKey, body []byte, now time.Time) (threads.Record, error) {
	const op errors.Op = "logstore.Append"
	p := s.view(id, b)
	info, err := s.info(p, id)
	if err != nil {
		return threads.Record{}, errors.E(op, err)
	}
	if logKey == nil || logKey.Type() != crypto.Ed25519 {
		return threads.Record{}, errors.E(op, errors.Invalid, "log key must be an Ed25519 private key")
	}
	lid, err := peer.IDFromPrivateKey(logKey)
	if err != nil {
		return threads.Record{}, errors.E(op, errors.Invalid, err)
	}
	l, err := s.log(p, id, lid)
	if errors.Is(errors.NotExist, err) {
		l, err = LogInfo{ID: lid, PubKey: logKey.GetPublic()}, nil
	}
	if err != nil {
		return threads.Record{}, errors.E(op, err)
	}
	rec, blocks, err := threads.NewRecord(info.Key, logKey, l.Head, body, now)
	if err != nil {
		return threads.Record{}, errors.E(op, err)
	}
	keys := l.PrivKey == nil // a new log, or one so far only ingested
	l.PrivKey, l.Head, l.Counter = logKey, rec.Cid, l.Counter+1
	if err := s.write(b, p, id, l, keys, blocks); err != nil {
		return threads.Record{}, errors.E(op, err)
	}
	return rec, nil
}

// Ingest verifies a record received from elsewhere and writes it into b.
// blocks[0] is the record block; the rest are its event, header and body
// blocks (those the thread already holds, committed, may be left out; no
// others may be given). The record must decode and verify with the thread's key, and
// extend its log: its prev is the log's current head, or it is the first
// record of a log this thread has not seen. Refusals change nothing and
// say why: Invalid or Permission as for DecodeRecord and OpenEvent, Exist
// for a record the log already holds, FailedPrecondition for a record whose
// prev is missing (naming it) or that forks its log. The caller serialises
// writes to the thread (see Store).
//
// With the read key the event is opened and returned, so that what is
// stored is known to be readable. A replicator (service key only) checks
// that the event's blocks are present and well formed, and gets a zero
// Event back.
func (s *Store) Ingest(b *store.Batch, id threads.ID, blocks []threads.Block) (threads.Record, threads.Event, error) {
	return s.IngestAdmitted(b, id, blocks, nil)
}

// Admit decides whether a verified record may take position pos of its
// log (1 for a log's first record), counting the records staged in the
// same batch: nil admits it, an error is the refusal.
type Admit func(rec threads.Record, pos int64) error

// IngestAdmitted is Ingest with admit (when not nil) asked about the
// record once its signature verifies and before it is checked against its
// log's head: a record admit refuses is not staged, b is left as it was,
// and admit's refusal is returned. A DB's access control list
// refuses records this way, so that the other records of a batch are
// still applied.
func (s *Store) IngestAdmitted(b *store.Batch, id threads.ID, blocks []threads.Block, admit Admit) (threads.Record, threads.Event, error) {
	const op errors.Op = "logstore.Ingest"
	p := s.view(id, b)
	info, err := s.info(p, id)
	if err != nil {
		return threads.Record{}, threads.Event{}, errors.E(op, err)
	}
	rec, ev, l, writes, err := s.verify(p, info, blocks, admit)
	if err != nil {
		return threads.Record{}, threads.Event{}, errors.E(op, err)
	}
	if err := s.write(b, p, id, l, l.Counter == 1, writes); err != nil {
		return threads.Record{}, threads.Event{}, errors.E(op, err)
	}
	return rec, ev, nil
}

// verify checks an ingested record and returns it, its opened event, its
// log after it, and the blocks to store.
func (s *Store) verify(p *pending, info Info, blocks []threads.Block, admit Admit) (threads.Record, threads.Event, LogInfo, []threads.Block, error) {
	fail := func(err error) (threads.Record, threads.Event, LogInfo, []threads.Block, error) {
		return threads.Record{}, threads.Event{}, LogInfo{}, nil, err
	}
	if len(blocks) == 0 {
		return fail(errors.E(errors.Invalid, "no blocks: send the record block first, then its event blocks"))
	}
	rec, err := threads.DecodeRecord(info.Key, blocks[0])
	if err != nil {
		return fail(err)
	}
	given := make(map[cid.Cid][]byte, len(blocks)-1)
	for _, blk := range blocks[1:] {
		if err := threads.CheckBlock(blk.Cid, blk.Data); err != nil {
			return fail(errors.Errorf("", errors.Invalid, "record %s: %v", rec.Cid, err))
		}
		given[blk.Cid] = blk.Data
	}
	get := func(c cid.Cid) ([]byte, error) {
		if data, ok := given[c]; ok {
			return data, nil
		}
		data, ok, err := s.committedBlock(p, info.ID, c)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errors.Errorf("", errors.Invalid, "not sent with record %s and not held by thread %s; send it with the record", rec.Cid, info.ID)
		}
		return data, nil
	}

	// The chain.
	if known, err := s.has(p, info.ID, rec.Cid); err != nil {
		return fail(err)
	} else if known {
		return fail(errors.Errorf("", errors.Exist, "record %s is already in log %s", rec.Cid, rec.LogID))
	}
	l, err := s.log(p, info.ID, rec.LogID)
	if errors.Is(errors.NotExist, err) {
		l, err = LogInfo{ID: rec.LogID, PubKey: rec.PubKey}, nil
	}
	if err != nil {
		return fail(err)
	}
	if l.PrivKey != nil {
		// This store writes the log: its records come from its own writes
		// (formed again after a crash), never from elsewhere, or a write
		// could be applied twice.
		return fail(errors.Errorf("", errors.FailedPrecondition, "record %s is of log %s, which this store writes itself; it does not ingest its own records", rec.Cid, rec.LogID))
	}
	if admit != nil {
		if err := admit(rec, l.Counter+1); err != nil {
			return fail(err)
		}
	}
	if !rec.Prev.Equals(l.Head) {
		return fail(s.chainError(p, info.ID, rec, l))
	}

	// The event.
	header, body, err := threads.EventLinks(rec.Event, get)
	if err != nil {
		return fail(err)
	}
	part := map[cid.Cid]bool{rec.Event: true, header: true, body: true}
	for c := range given {
		if !part[c] {
			return fail(errors.Errorf("", errors.Invalid, "block %s is not part of record %s", c, rec.Cid))
		}
	}
	var ev threads.Event
	if info.Key.CanRead() {
		if ev, err = threads.OpenEvent(info.Key, rec, get); err != nil {
			return fail(err)
		}
	} else {
		// A replicator cannot decrypt, but can make sure it will be able
		// to hand readers the whole event.
		if _, err := threads.FetchBlock(header, "header", get); err != nil {
			return fail(err)
		}
		if _, err := threads.FetchBlock(body, "body", get); err != nil {
			return fail(err)
		}
	}

	writes := []threads.Block{blocks[0]}
	for _, c := range []cid.Cid{rec.Event, header, body} {
		if data, ok := given[c]; ok {
			writes = append(writes, threads.Block{Cid: c, Data: data})
		}
	}
	l.Head, l.Counter = rec.Cid, l.Counter+1
	return rec, ev, l, writes, nil
}

// chainError says why rec does not extend log l.
func (s *Store) chainError(p *pending, id threads.ID, rec threads.Record, l LogInfo) error {
	if !rec.Prev.Defined() {
		return errors.Errorf("", errors.FailedPrecondition, "record %s starts log %s again, but the log already has %d records up to %s: the log forked", rec.Cid, rec.LogID, l.Counter, l.Head)
	}
	known, err := s.has(p, id, rec.Prev)
	if err != nil {
		return err
	}
	if known {
		return errors.Errorf("", errors.FailedPrecondition, "record %s follows %s, which is not the head of log %s (%s): the log forked", rec.Cid, rec.Prev, rec.LogID, l.Head)
	}
	return errors.Errorf("", errors.FailedPrecondition, "record %s of log %s follows record %s, which thread %s does not have; ingest %s (and any records before it) first", rec.Cid, rec.LogID, rec.Prev, id, rec.Prev)
}

// write puts blocks and the head of log l into b, and its keys too when
// keys is set (they are new), and notes them as pending. It encodes
// everything before the first write, so a failure leaves b as it was.
func (s *Store) write(b *store.Batch, p *pending, id threads.ID, l LogInfo, keys bool, blocks []threads.Block) error {
	var v logJSON
	if keys {
		var err error
		if v, err = encodeLog(l); err != nil {
			return errors.E(errors.Internal, err)
		}
	}
	for _, blk := range blocks {
		b.PutRaw(blockKey(id, blk.Cid), blk.Data)
		p.blocks[blk.Cid] = true
	}
	if keys {
		b.Put(logKey(id, l.ID), v)
	}
	b.PutRaw(headKey(id, l.ID), encodeHead(l))
	b.PutRaw(seqKey(id, l.ID, l.Counter), l.Head.Bytes())
	p.logs[l.ID] = l
	return nil
}

// Following returns, oldest first, the CIDs of up to limit committed
// records of log l of thread id that follow record number n of the log,
// after (n 0 and cid.Undef: from the log's first record). It reads the
// log's index of records by position, so the work is that of the records
// returned, however long the log. known is false when the index cannot
// say: record n is not after in this store (the asker is ahead of it, or
// the log forked), or the records were stored before logs kept the index.
// Those callers walk the log from its head instead.
func (s *Store) Following(id threads.ID, l LogInfo, after cid.Cid, n int64, limit int) (out []cid.Cid, known bool, err error) {
	const op errors.Op = "logstore.Following"
	if n < 0 || n > l.Counter || (n == 0) != !after.Defined() {
		return nil, false, nil
	}
	if n > 0 {
		raw, err := s.db.GetRaw(seqKey(id, l.ID, n))
		if errors.Is(errors.NotExist, err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, errors.E(op, err)
		}
		if !bytes.Equal(raw, after.Bytes()) {
			return nil, false, nil
		}
	}
	want := min(int64(limit), l.Counter-n)
	out = make([]cid.Cid, 0, want)
	next := n + 1
	errHole := fmt.Errorf("a hole in the index")
	err = s.db.ScanRange(seqKey(id, l.ID, next), seqKey(id, l.ID, n+want+1), func(key, val []byte) error {
		if int64(binary.BigEndian.Uint64(key[len(key)-8:])) != next {
			return errHole // records stored before the index
		}
		c, err := cid.Cast(val)
		if err != nil {
			return errors.Errorf("", errors.Internal, "stored index of log %s of thread %s: %v", l.ID, id, err)
		}
		out = append(out, c)
		next++
		return nil
	})
	switch {
	case err == errHole:
		return nil, false, nil
	case err != nil:
		return nil, false, errors.E(op, err)
	case int64(len(out)) < want:
		return nil, false, nil
	}
	return out, true, nil
}

// Records returns the records of log lid in thread id, oldest first. It
// walks from the head back to the first record and verifies each one
// again (signature, log, chain), so a corrupted store is reported, as
// Internal, instead of served.
func (s *Store) Records(id threads.ID, lid peer.ID) ([]threads.Record, error) {
	const op errors.Op = "logstore.Records"
	info, err := s.readInfo(id)
	if err != nil {
		return nil, errors.E(op, err)
	}
	l, err := s.readLog(id, lid)
	if err != nil {
		return nil, errors.E(op, err)
	}
	var out []threads.Record
	for c := l.Head; c.Defined(); {
		if int64(len(out)) == l.Counter {
			return nil, errors.Errorf(op, errors.Internal, "log %s of thread %s holds more records than its counter (%d)", lid, id, l.Counter)
		}
		data, err := s.db.GetRaw(blockKey(id, c))
		if err != nil {
			return nil, errors.Errorf(op, errors.Internal, "log %s of thread %s: record %s: %v", lid, id, c, err)
		}
		rec, err := threads.DecodeRecord(info.Key, threads.Block{Cid: c, Data: data})
		if err != nil {
			return nil, errors.Errorf(op, errors.Internal, "log %s of thread %s: stored %s", lid, id, errors.Message(err))
		}
		if rec.LogID != lid {
			return nil, errors.Errorf(op, errors.Internal, "log %s of thread %s: record %s belongs to log %s", lid, id, c, rec.LogID)
		}
		out = append(out, rec)
		c = rec.Prev
	}
	if int64(len(out)) != l.Counter {
		return nil, errors.Errorf(op, errors.Internal, "log %s of thread %s holds %d records, its counter says %d", lid, id, len(out), l.Counter)
	}
	slices.Reverse(out)
	return out, nil
}

// log returns log lid of thread id as seen by pending writes.
func (s *Store) log(p *pending, id threads.ID, lid peer.ID) (LogInfo, error) {
	if l, ok := p.logs[lid]; ok {
		return l, nil
	}
	if p.wiped {
		return LogInfo{}, errors.Errorf("", errors.NotExist, "thread %s has no log %s", id, lid)
	}
	return s.readLog(id, lid)
}

// readLog returns the committed log lid of thread id.
func (s *Store) readLog(id threads.ID, lid peer.ID) (LogInfo, error) {
	var v logJSON
	if err := s.db.Get(logKey(id, lid), &v); err != nil {
		if errors.Is(errors.NotExist, err) {
			return LogInfo{}, errors.Errorf("", errors.NotExist, "thread %s has no log %s", id, lid)
		}
		return LogInfo{}, err
	}
	l, err := v.decode(lid)
	if err != nil {
		return LogInfo{}, errors.Errorf("", errors.Internal, "stored log %s of thread %s: %v", lid, id, err)
	}
	if err := s.readHead(id, &l); err != nil {
		return LogInfo{}, err
	}
	return l, nil
}

// readHead sets the head and counter of l, a committed log of thread id,
// from the store. A log is stored with its first head, so a missing head
// is corruption.
func (s *Store) readHead(id threads.ID, l *LogInfo) error {
	raw, err := s.db.GetRaw(headKey(id, l.ID))
	if err != nil {
		return errors.Errorf("", errors.Internal, "stored log %s of thread %s: head: %v", l.ID, id, err)
	}
	n, k := binary.Uvarint(raw)
	if k <= 0 || n > math.MaxInt64 {
		return errors.Errorf("", errors.Internal, "stored log %s of thread %s: malformed counter", l.ID, id)
	}
	if l.Counter = int64(n); k < len(raw) {
		if l.Head, err = cid.Cast(raw[k:]); err != nil {
			return errors.Errorf("", errors.Internal, "stored log %s of thread %s: head: %v", l.ID, id, err)
		}
	}
	return nil
}

// encodeHead lays out what an append changes in log l: uvarint(counter)
// || the head CID's bytes.
func encodeHead(l LogInfo) []byte {
	out := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+l.Head.ByteLen()), uint64(l.Counter))
	return append(out, l.Head.KeyString()...)
}

func encodeLog(l LogInfo) (logJSON, error) {
	var v logJSON
	var err error
	if v.PubKey, err = crypto.MarshalPublicKey(l.PubKey); err != nil {
		return v, err
	}
	if l.PrivKey != nil {
		if v.PrivKey, err = crypto.MarshalPrivateKey(l.PrivKey); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (v *logJSON) decode(lid peer.ID) (LogInfo, error) {
	l := LogInfo{ID: lid}
	var err error
	if l.PubKey, err = crypto.UnmarshalPublicKey(v.PubKey); err != nil {
		return l, fmt.Errorf("public key: %v", err)
	}
	if !lid.MatchesPublicKey(l.PubKey) {
		return l, fmt.Errorf("public key does not match the log ID")
	}
	if v.PrivKey != nil {
		if l.PrivKey, err = crypto.UnmarshalPrivateKey(v.PrivKey); err != nil {
			return l, fmt.Errorf("private key: %v", err)
		}
	}
	return l, nil
}

// Truncate drops the records of log lid in thread id that follow its
// first n, in b: the log's head moves back to its nth record, and a log
// left with none is removed. It is how a DB drops the records its access
// control list no longer allows (threads/db); their blocks stay until the
// thread is deleted. A log with n records or fewer is left alone. The
// caller serialises writes to the thread (see Store).
func (s *Store) Truncate(b *store.Batch, id threads.ID, lid peer.ID, n int64) error {
	const op errors.Op = "logstore.Truncate"
	p := s.view(id, b)
	info, err := s.info(p, id)
	if err != nil {
		return errors.E(op, err)
	}
	l, err := s.log(p, id, lid)
	if err != nil {
		return errors.E(op, err)
	}
	if n < 0 {
		n = 0
	}
	for l.Counter > n {
		data, err := s.db.GetRaw(blockKey(id, l.Head))
		if err != nil {
			return errors.Errorf(op, errors.Internal, "log %s of thread %s: record %s: %v", lid, id, l.Head, err)
		}
		prev, _, err := threads.RecordLinks(info.Key, threads.Block{Cid: l.Head, Data: data})
		if err != nil {
			return errors.Errorf(op, errors.Internal, "log %s of thread %s: stored %s", lid, id, errors.Message(err))
		}
		l.Head, l.Counter = prev, l.Counter-1
	}
	if l.Counter == 0 {
		b.Delete(logKey(id, lid))
		b.Delete(headKey(id, lid))
		delete(p.logs, lid)
		return nil
	}
	b.PutRaw(headKey(id, lid), encodeHead(l))
	p.logs[lid] = l
	return nil
}
