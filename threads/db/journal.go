package db

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/store"
	"github.com/selfhub/hub/threads"
)

// The record journal: how a local write is acknowledged without waiting
// for its signed thread record.
//
// Forming a record (a fresh body key, three encryptions, dag-cbor, an
// Ed25519 signature, four blocks and the log head) costs more CPU than the
// rest of a small write together. So a write transaction commits its state
// change together with a journal entry (<db>jrn/<seq>: the writer, the
// time and the event body) in one synced batch, and is acknowledged. The
// DB's former then turns journal entries into records, in journal order,
// behind the writers and in runs (formRun, formDelay): each batch it
// applies appends the records to their logs and deletes their entries,
// atomically. The state change and its entry are never apart, and an
// entry and its record are never both there, so after a crash the entries
// left are exactly the writes without a record; they are formed when the
// hub starts again (ResumeForming) or the DB is next opened.
//
// Readers of records (Records, GetBlock, replication) see each log as a
// prefix of the writes applied to the state: the records of the last
// writes appear a moment after the writes are acknowledged (WaitRecords
// waits for them). Records are formed only from entries known to be on
// disk (kick says how far), in commit order, so each log's chain follows
// the order in which its writer's transactions committed; the event
// bodies are the ones the state was built from, so a replica that ingests
// the records converges to the same state. The former's batches are not
// synced on their own, since an fsync of theirs would delay the writers'
// own: they reach the disk with the next synced commit of the store
// (commits reach it in order). A crash before then may lose the records,
// never without their entries, which are formed again into the same
// records (threads.NewRecord derives its keys and nonces from its
// inputs): a record anyone saw before the crash is the one its log holds
// after it.

// formBatch is how many journal entries the former turns into records
// in one batch: enough to amortise a batch, few enough that the record
// lock is never held long.
const formBatch = 64

// formRun and formDelay say when a stopped former starts again: once
// formRun writes wait for their records, or formDelay after the first.
// Forming records in runs, not one by one behind each write, spares the
// writers a batch commit and a WAL write between each of their syncs.
const (
	formRun   = 32
	formDelay = time.Millisecond
)

// journalEntry is a write waiting for its record.
type journalEntry struct {
	key    []byte     // its key in the store
	writer hub.PubKey // whose log the record goes to
	now    time.Time  // the event time in the record's header
	body   []byte     // the event body (eventBody, encoded)
}

// encodeJournal lays an entry out as uvarint(len(writer)) || writer ||
// varint(Unix ns) || body.
func encodeJournal(writer hub.PubKey, now time.Time, body []byte) []byte {
	out := make([]byte, 0, 2*binary.MaxVarintLen64+len(writer)+len(body))
	out = binary.AppendUvarint(out, uint64(len(writer)))
	out = append(out, writer...)
	out = binary.AppendVarint(out, now.UnixNano())
	return append(out, body...)
}

// decodeJournal reads an entry stored at key.
func decodeJournal(key, val []byte) (journalEntry, error) {
	const op errors.Op = "db.decodeJournal"
	bad := errors.Errorf(op, errors.Internal, "journal entry %q is malformed", key)
	n, k := binary.Uvarint(val)
	if k <= 0 || uint64(len(val)-k) < n {
		return journalEntry{}, bad
	}
	e := journalEntry{key: append([]byte(nil), key...), writer: hub.PubKey(val[k : k+int(n)])}
	val = val[k+int(n):]
	ns, k := binary.Varint(val)
	if k <= 0 {
		return journalEntry{}, bad
	}
	e.now, e.body = time.Unix(0, ns), append([]byte(nil), val[k:]...)
	return e, nil
}

// journal adds a journal entry for an event to b and returns its number;
// the caller holds the write lock.
func (d *DB) journal(b *store.Batch, writer hub.PubKey, now time.Time, body []byte) uint64 {
	d.jseq++
	b.PutRaw(jrnKey(d.pfx, d.jseq), encodeJournal(writer, now, body))
	return d.jseq
}

// loadJournal sets the journal's next entry number after the last entry
// stored, and starts forming the records of any entries left by a crash.
func (d *DB) loadJournal() error {
	const op errors.Op = "db.load"
	prefix := jrnPrefix(d.pfx)
	var last []byte
	err := d.m.st.ScanRangeReverse(prefix, store.PrefixEnd(prefix), func(key, _ []byte) error {
		last = append([]byte(nil), key...)
		return errStopScan
	})
	if err != nil && err != errStopScan {
		return err
	}
	if last == nil {
		return nil
	}
	if len(last) != len(prefix)+8 {
		return errors.Errorf(op, errors.Internal, "journal key %q is malformed", last)
	}
	d.jseq = binary.BigEndian.Uint64(last[len(prefix):])
	d.kick(d.jseq) // what the store holds when it opens is on disk
	return nil
}

// kick tells the former that journal entries up to number entry are on
// disk. A stopped former is started once formRun writes wait for it, or
// formDelay after the first of them; a running one counts the write and
// looks again before it stops.
func (d *DB) kick(entry uint64) {
	d.jmu.Lock()
	defer d.jmu.Unlock()
	d.durable = max(d.durable, entry)
	d.waiting++
	if !d.forming {
		d.schedule()
	}
}

// schedule starts the stopped former if formRun writes wait for it, and
// otherwise makes sure it starts formDelay from now; the caller holds jmu.
func (d *DB) schedule() {
	switch {
	case d.waiting >= formRun:
		d.startForming()
	case d.waiting > 0 && d.timer == nil:
		d.timer = time.AfterFunc(formDelay, d.formNow)
	}
}

// formNow starts the former if it is stopped and writes wait for it.
func (d *DB) formNow() {
	d.jmu.Lock()
	defer d.jmu.Unlock()
	if !d.forming && d.waiting > 0 {
		d.startForming()
	}
}

// startForming starts the former; the caller holds jmu.
func (d *DB) startForming() {
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.forming, d.formErr = true, nil
	d.idle = make(chan struct{})
	go d.form()
}

// form is the former: it turns journal entries into records in runs of
// up to formBatch, and stops when fewer than formRun writes wait (leaving
// them to schedule). A failure (the store closed, a storage error) stops
// it too; the entries stay, for the next kick or the next open.
func (d *DB) form() {
	for {
		d.jmu.Lock()
		// The run forms at least every entry journaled before these
		// kicks; a kick from now on counts for the next one.
		d.waiting = 0
		durable := d.durable
		d.jmu.Unlock()
		n, err := d.formRecords(durable)
		d.jmu.Lock()
		if err == nil && (n == formBatch || d.waiting >= formRun) {
			d.jmu.Unlock()
			continue
		}
		d.forming, d.formErr = false, err
		if err == nil {
			d.schedule()
		}
		close(d.idle)
		d.jmu.Unlock()
		return
	}
}

// formRecords turns up to formBatch journal entries, oldest first and up
// to number durable, into records, and returns how many it formed. Entries
// past durable may be visible while their batch is still being synced: a
// crash could lose them, and a record must never exist, not even for a
// moment, for a write that may not have happened.
func (d *DB) formRecords(durable uint64) (int, error) {
	n := 0
	err := d.m.st.WhileOpen(func() error {
		d.recMu.Lock()
		defer d.recMu.Unlock()
		if d.deleted {
			return nil
		}
		var entries []journalEntry
		prefix := jrnPrefix(d.pfx)
		err := d.m.st.ScanRange(jrnKey(d.pfx, d.formed+1), jrnKey(d.pfx, durable+1), func(key, val []byte) error {
			e, err := decodeJournal(key, val)
			if err != nil {
				return err
			}
			if entries = append(entries, e); len(entries) == formBatch {
				return errStopScan
			}
			return nil
		})
		if err != nil && err != errStopScan {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		b := d.m.st.NewBatch()
		for _, e := range entries {
			w, err := d.writer(nil, e.writer) // stored with the entry
			if err != nil {
				return err
			}
			if _, err := d.m.threads.Append(b, d.id, w.key, e.body, e.now); err != nil {
				return err
			}
			b.Delete(e.key)
		}
		// Not synced: a crash before the next sync loses these records
		// and keeps their entries, which are formed again.
		if err := b.ApplyNoSync(); err != nil {
			return err
		}
		last := entries[len(entries)-1].key
		d.formed, n = binary.BigEndian.Uint64(last[len(prefix):]), len(entries)
		return nil
	})
	return n, err
}

// WaitRecords waits until every write acknowledged before the call has its
// signed record in the thread's log, and returns the error that stopped
// the former, if one did.
func (d *DB) WaitRecords(ctx context.Context) error {
	const op errors.Op = "db.WaitRecords"
	for {
		d.jmu.Lock()
		if !d.forming && d.formErr == nil && d.waiting > 0 {
			d.startForming() // rather than wait for the timer
		}
		forming, err, idle := d.forming, d.formErr, d.idle
		d.jmu.Unlock()
		if !forming {
			if err != nil {
				return errors.E(op, err)
			}
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return errors.E(op, errors.DeadlineExceeded, "gave up waiting for the DB's records to be formed")
		}
	}
}

// ResumeForming starts the former of every DB whose journal holds entries,
// the writes a crash left without a record, and returns how many it
// started. A hub calls it once at start, so that those records appear
// without waiting for someone to reach their DB. A DB that fails to open
// is passed to failed and skipped; the error returned is the store's or
// ctx's.
func (m *Manager) ResumeForming(ctx context.Context, failed func(threads.ID, error)) (int, error) {
	const op errors.Op = "db.ResumeForming"
	n := 0
	err := m.EachDB(ctx, func(id threads.ID) error {
		prefix := jrnPrefix(dbPrefix(id))
		if left, err := m.st.AnyInRange(prefix, store.PrefixEnd(prefix)); err != nil || !left {
			return err
		}
		if _, err := m.open(id); err != nil { // its load starts the former
			return err
		}
		n++
		return nil
	}, failed)
	if err != nil {
		return n, errors.E(op, err)
	}
	return n, nil
}

// WaitRecords waits until every write acknowledged so far in any open DB
// has its record, as DB.WaitRecords does for one. A hub calls it when it
// stops, after its last write, so that a clean stop leaves no write
// without its record (a crash's are formed at the next start).
func (m *Manager) WaitRecords(ctx context.Context) error {
	m.mu.Lock()
	open := make([]*DB, 0, len(m.dbs))
	for _, d := range m.dbs {
		open = append(open, d)
	}
	m.mu.Unlock()
	for _, d := range open {
		if err := d.WaitRecords(ctx); err != nil {
			return err
		}
	}
	return nil
}
