package db

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/logstore"
)

// formBatch is how many journal entries the former turns into records
// in one batch: enough to amortise a batch, few enough that the log lock
// is never held long.
const formBatch = 64

// formRun and formDelay say when a stopped former starts again: once
// formRun writes wait for their records, or formDelay after the first.
// Forming records in runs, not one by one behind each write, spares the
// writers a batch commit and a WAL write between each of their syncs.
const (
	formRun   = 32
	formDelay = time.Millisecond
)

// former turns one DB's journal entries into signed records in its
// thread's logs (journal.go says why writes are journaled), a type of its
// own beside the DB as pebble's commit pipeline is beside its DB. Writers
// append entries under the DB's write lock and, once their batch is
// synced, tell the former how far the entries are on disk (kick); the
// former forms records from those only, oldest first, in runs and batches.
// Its batches are not synced on their own, since an fsync of theirs would
// delay the writers' own: they reach the disk with the next synced commit
// of the store (commits reach it in order).
//
// Locks, outermost first: the DB's write lock (held by callers of append
// and by Ingest and DeleteDB), logMu, then the DB's writersMu (taken to
// read log keys while forming) or the Manager's mu (DeleteDB); mu is
// innermost, held with no lock taken under it.
type former struct {
	st     *store.Store
	logs   *logstore.Store
	thread threads.ID
	pfx    []byte // the DB's prefix, dbPrefix(thread): the journal is under it
	// writer returns the log an identity writes to, whose key was stored
	// with the identity's first journal entry (DB.writer).
	writer func(hub.PubKey) (logWriter, error)
	// notify is told each time a batch of records is applied (not yet
	// synced): replication hands them on once they are.
	notify func()

	// appended numbers the last journal entry appended. Guarded by the
	// DB's write lock, which every caller of append holds, so that entries
	// are numbered in commit order; load sets it before the DB is reachable.
	appended uint64

	// logMu serialises writes to the thread's logs, from reading a log's
	// head to applying the batch that moves it: the former holds it for
	// each batch, Ingest and DeleteDB through lockLogs. It guards formed
	// and deleted.
	logMu sync.Mutex
	// formed numbers the last journal entry formed, so that a batch seeks
	// past the deleted entries instead of stepping over them.
	formed uint64
	// deleted is set by retire when the DB is deleted: the former must
	// stop, as a DB made again with the same ID has its own.
	deleted bool

	// mu guards the run state: durable, running, waiting, timer, err and
	// idle.
	mu sync.Mutex
	// durable numbers the last journal entry known to be on disk.
	durable uint64
	// running says whether the former runs (its goroutine, run).
	running bool
	// waiting counts the writes journaled since its run began or it
	// stopped.
	waiting int
	// timer starts the stopped former formDelay after a write; nil when
	// none is set.
	timer *time.Timer
	// err is what stopped the former last; nil when it stopped for want
	// of work.
	err error
	// idle is closed when the running former stops.
	idle chan struct{}
}

// newFormer returns the stopped former of the DB with prefix pfx over
// thread; load starts it if the journal holds entries.
func newFormer(st *store.Store, logs *logstore.Store, thread threads.ID, pfx []byte, writer func(hub.PubKey) (logWriter, error), notify func()) *former {
	return &former{st: st, logs: logs, thread: thread, pfx: pfx, writer: writer, notify: notify}
}

// append adds a journal entry for an event to b and returns its number;
// the caller holds the DB's write lock.
func (f *former) append(b *store.Batch, writer hub.PubKey, now time.Time, body []byte) uint64 {
	f.appended++
	b.PutRaw(jrnKey(f.pfx, f.appended), encodeJournal(writer, now, body))
	return f.appended
}

// load sets the journal's next entry number after the last entry stored,
// and starts forming the records of any entries left by a crash.
func (f *former) load() error {
	const op errors.Op = "db.load"
	prefix := jrnPrefix(f.pfx)
	var last []byte
	err := f.st.ScanRangeReverse(prefix, store.PrefixEnd(prefix), func(key, _ []byte) error {
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
	f.appended = binary.BigEndian.Uint64(last[len(prefix):])
	f.kick(f.appended) // what the store holds when it opens is on disk
	return nil
}

// kick tells the former that journal entries up to number entry are on
// disk. A stopped former is started once formRun writes wait for it, or
// formDelay after the first of them; a running one counts the write and
// looks again before it stops.
func (f *former) kick(entry uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.durable = max(f.durable, entry)
	f.waiting++
	if !f.running {
		f.schedule()
	}
}

// schedule starts the stopped former if formRun writes wait for it, and
// otherwise makes sure it starts formDelay from now; the caller holds mu.
func (f *former) schedule() {
	switch {
	case f.waiting >= formRun:
		f.start()
	case f.waiting > 0 && f.timer == nil:
		f.timer = time.AfterFunc(formDelay, f.formNow)
	}
}

// formNow starts the former if it is stopped and writes wait for it.
func (f *former) formNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running && f.waiting > 0 {
		f.start()
	}
}

// start starts the former; the caller holds mu.
func (f *former) start() {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.running, f.err = true, nil
	f.idle = make(chan struct{})
	go f.run()
}

// run is the former's goroutine: it turns journal entries into records in
// batches of up to formBatch, and stops when fewer than formRun writes
// wait (leaving them to schedule). A failure (the store closed, a storage
// error) stops it too; the entries stay, for the next kick or the next
// open.
func (f *former) run() {
	for {
		f.mu.Lock()
		// The run forms at least every entry journaled before these
		// kicks; a kick from now on counts for the next one.
		f.waiting = 0
		durable := f.durable
		f.mu.Unlock()
		n, err := f.formRecords(durable)
		if n > 0 {
			f.notify()
		}
		f.mu.Lock()
		if err == nil && (n == formBatch || f.waiting >= formRun) {
			f.mu.Unlock()
			continue
		}
		f.running, f.err = false, err
		if err == nil {
			f.schedule()
		}
		close(f.idle)
		f.mu.Unlock()
		return
	}
}

// formRecords turns up to formBatch journal entries, oldest first and up
// to number durable, into records, and returns how many it formed. Entries
// past durable may be visible while their batch is still being synced: a
// crash could lose them, and a record must never exist, not even for a
// moment, for a write that may not have happened.
func (f *former) formRecords(durable uint64) (int, error) {
	n := 0
	err := f.st.WhileOpen(func() error {
		f.logMu.Lock()
		defer f.logMu.Unlock()
		if f.deleted {
			return nil
		}
		var entries []journalEntry
		prefix := jrnPrefix(f.pfx)
		err := f.st.ScanRange(jrnKey(f.pfx, f.formed+1), jrnKey(f.pfx, durable+1), func(key, val []byte) error {
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
		b := f.st.NewBatch()
		for _, e := range entries {
			w, err := f.writer(e.writer)
			if err != nil {
				return err
			}
			if _, err := f.logs.Append(b, f.thread, w.key, e.body, e.now); err != nil {
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
		f.formed, n = binary.BigEndian.Uint64(last[len(prefix):]), len(entries)
		return nil
	})
	return n, err
}

// wait waits until every entry kicked before the call has its record, and
// returns the error that stopped the former, if one did.
func (f *former) wait(ctx context.Context) error {
	for {
		f.mu.Lock()
		if !f.running && f.err == nil && f.waiting > 0 {
			f.start() // rather than wait for the timer
		}
		running, err, idle := f.running, f.err, f.idle
		f.mu.Unlock()
		if !running {
			return err
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return errors.E(errors.DeadlineExceeded, "gave up waiting for the DB's records to be formed")
		}
	}
}

// lockLogs takes the log lock, for a caller that writes to the thread's
// logs itself (Ingest) or deletes them (DeleteDB): the former forms no
// record until unlockLogs.
func (f *former) lockLogs() { f.logMu.Lock() }

// unlockLogs releases the log lock.
func (f *former) unlockLogs() { f.logMu.Unlock() }

// retire stops the former for good, its DB deleted; the caller holds the
// log lock. The entries it leaves are deleted with the DB.
func (f *former) retire() { f.deleted = true }

// WaitRecords waits until every write acknowledged before the call has its
// signed record in the thread's log, and returns the error that stopped
// the former, if one did.
func (d *DB) WaitRecords(ctx context.Context) error {
	const op errors.Op = "db.WaitRecords"
	if err := d.former.wait(ctx); err != nil {
		return errors.E(op, err)
	}
	return nil
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
