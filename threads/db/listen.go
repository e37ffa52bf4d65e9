package db

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"sync"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// ListenFilter selects the events a listener wants. Empty Collection or ID
// match any; Actions empty matches every action.
type ListenFilter struct {
	Collection string
	ID         string
	Actions    []Action
}

func (f ListenFilter) match(c *change) bool {
	if f.Collection != "" && f.Collection != c.Col || f.ID != "" && f.ID != c.ID {
		return false
	}
	if len(f.Actions) == 0 {
		return true
	}
	for _, a := range f.Actions {
		if a == c.Action {
			return true
		}
	}
	return false
}

// Event is one change a listener receives.
type Event struct {
	// Seq is the change's position in the DB's listen log; Listen from Seq
	// resumes right after it.
	Seq        uint64
	Collection string
	ID         string
	Action     Action
	// Instance is the instance as written, as the listener may see it;
	// nil for a delete.
	Instance json.RawMessage

	// shared is the cached change when Instance is as written (no read
	// filter changed it), whose encoding every listener shares.
	shared *cachedChange
	cache  *changeCache
}

// Encode returns enc(e). For an event as written (no read filter changed
// it) it is computed once and shared by every listener of the DB that
// receives the change while it is cached: enc must give the same bytes
// for the same event whoever calls it (the event's wire form), and the
// caller must not change them. An event a read filter changed is encoded
// for its listener alone.
func (e Event) Encode(enc func(Event) ([]byte, error)) ([]byte, error) {
	ch := e.shared
	if ch == nil {
		return enc(e)
	}
	ch.once.Do(func() {
		ch.enc, ch.encErr = enc(e)
		e.cache.grow(ch, len(ch.enc))
	})
	return ch.enc, ch.encErr
}

// FromNow starts a listener at the DB's latest change.
const FromNow = ^uint64(0)

// listenBatch is how many changes a listener reads from the store at
// once, and listenBatchBytes how many bytes of them: the changes go to the
// hub's change cache, from which the DB's listeners take them one at a
// time.
const (
	listenBatch      = 256
	listenBatchBytes = 64 << 10
)

// Listen calls fn, in order, for every change after position since (or
// FromNow) that matches any of filters (all changes when there are
// none), until ctx ends, fn fails or the DB is deleted.
//
// Nothing is ever dropped: the listener reads the durable listen log at
// its own pace, so a slow listener falls behind rather than losing
// events, and it can resume from the last Seq it handled. Only the kept
// history (Config.ListenHistory) can be read: a listener that starts
// before it, or lags so far behind that changes it has not read are
// trimmed, ends with FailedPrecondition.
//
// What a listener holds is its position and the one change it is
// delivering: the changes come from the hub's change cache, shared with
// the DB's other listeners, so a listener that does not read costs a
// cursor, and a change delivered to many listeners is read, decoded (and,
// through Event.Encode, encoded) once.
func (d *DB) Listen(ctx context.Context, p hub.Principal, since uint64, filters []ListenFilter, fn func(Event) error) error {
	const op errors.Op = "db.Listen"
	pos := since
	if since == FromNow {
		c, err := readCounters(d.m.st, d.pfx)
		if err != nil {
			return errors.E(op, err)
		}
		pos = c.seq
	} else if err := d.checkAhead(op, since); err != nil {
		return err
	}
	ahead := readAhead{n: listenBatch}
	for {
		wake, durable, err := d.listeners.wait()
		if err != nil {
			return err
		}
		for pos < durable {
			if err := ctx.Err(); err != nil {
				return errors.E(op, err)
			}
			c, err := d.change(op, pos+1, durable, &ahead)
			if err != nil {
				return err
			}
			if err := d.deliver(ctx, p, c, filters, fn); err != nil {
				return err
			}
			pos = c.seq
		}
		select {
		case <-ctx.Done():
			return errors.E(op, ctx.Err())
		case <-wake:
		}
	}
}

// ListenReads returns how many changes listeners have read from the
// store since the Manager started; what they took from the change cache
// is not counted.
func (m *Manager) ListenReads() uint64 { return m.listenReads.Load() }

// seqChange is a change with its position in the listen log.
type seqChange struct {
	seq uint64
	change
}

// readAhead is how many changes a listener reads from the store when its
// next change is not cached: a batch, unless the cache dropped what it read
// last before it got there (other listeners churn the cache faster than
// it reads), and then half as many each time it happens, so that a slow
// reader never reads a batch for every change it delivers.
type readAhead struct {
	n      int    // changes to read at the next miss
	readTo uint64 // the last change of the last read
}

// change returns the change at position seq, which is durable: from the
// change cache, or read from the store with the changes after it (up to
// durable, ahead and the batch bounds) into the cache.
func (d *DB) change(op errors.Op, seq, durable uint64, ahead *readAhead) (*cachedChange, error) {
	cache := d.m.changes
	if c := cache.get(changeKey{d, seq}); c != nil {
		return c, nil
	}
	// Listeners woken by the same write all miss at once: the first
	// reads, the others find what it read.
	d.readMu.Lock()
	defer d.readMu.Unlock()
	if c := cache.get(changeKey{d, seq}); c != nil {
		return c, nil
	}
	if seq <= ahead.readTo {
		ahead.n = max(1, ahead.n/2)
	} else {
		ahead.n = min(listenBatch, 2*ahead.n)
	}
	var (
		first *cachedChange
		n     int // changes read
		size  int // bytes read
	)
	err := d.m.st.ScanRange(chgKey(d.pfx, seq), chgKey(d.pfx, durable+1), func(k, v []byte) error {
		c := &cachedChange{key: changeKey{d, binary.BigEndian.Uint64(k[len(k)-8:])}}
		c.seq = c.key.seq
		if first == nil && c.seq != seq {
			return d.trimmed(op, seq, c.seq-1)
		}
		if err := json.Unmarshal(v, &c.change); err != nil {
			return errors.E(errors.Internal, err)
		}
		c = cache.put(c, len(v))
		if first == nil {
			first = c
		}
		ahead.readTo = c.seq
		if n, size = n+1, size+len(v); n == ahead.n || size >= listenBatchBytes {
			return errStopScan
		}
		return nil
	})
	d.m.listenReads.Add(uint64(n))
	if err != nil && err != errStopScan {
		return nil, err
	}
	if first == nil {
		return nil, d.trimmed(op, seq, durable)
	}
	return first, nil
}

// trimmed reports that changes from to to are no longer kept: the history
// was trimmed past them while the listener lagged. That is an error, never
// a silent skip.
func (d *DB) trimmed(op errors.Op, from, to uint64) error {
	return errors.Errorf(op, errors.FailedPrecondition, "changes %d to %d are no longer kept (this hub keeps the last %d): listen from now and reload the collection", from, to, d.m.cfg.ListenHistory)
}

// errStopScan ends a scan early.
var errStopScan = errors.New("stop scan")

// checkAhead refuses a resume position past the DB's latest change.
func (d *DB) checkAhead(op errors.Op, since uint64) error {
	c, err := readCounters(d.m.st, d.pfx)
	if err != nil {
		return errors.E(op, err)
	}
	if since > c.seq {
		return errors.Errorf(op, errors.Invalid, "listen position %d is ahead of the DB's latest change %d", since, c.seq)
	}
	return nil
}

// deliver passes one change to fn if a filter selects it and the read
// filter lets the listener see it.
func (d *DB) deliver(ctx context.Context, p hub.Principal, c *cachedChange, filters []ListenFilter, fn func(Event) error) error {
	if len(filters) > 0 {
		ok := false
		for _, f := range filters {
			if f.match(&c.change) {
				ok = true
				break
			}
		}
		if !ok {
			return nil
		}
	}
	ev := Event{Seq: c.seq, Collection: c.Col, ID: c.ID, Action: c.Action, Instance: c.Value, shared: c, cache: d.m.changes}
	if c.Action != ActionDelete {
		d.colsMu.RLock()
		col := d.cols[c.Col]
		d.colsMu.RUnlock()
		if col != nil && col.filter != nil {
			v, err := col.filter.Apply(ctx, string(p.Owner()), c.Value)
			if err != nil {
				return err
			}
			if v == nil {
				return nil // hidden from this reader
			}
			ev.Instance, ev.shared = v, nil
		}
	}
	d.m.count(p, 1, 0)
	return fn(ev)
}

// broadcaster wakes the listeners of a DB when its listen log grows, and
// holds how far the log is durable: changes are visible in the store
// before they are synced, and a listener must never deliver one that a
// crash could still take back.
type broadcaster struct {
	mu      sync.Mutex
	ch      chan struct{} // closed and replaced on each wake; guarded by mu
	durable uint64        // last change known to be on disk; guarded by mu
	err     error         // set when the DB goes away; guarded by mu
}

func newBroadcaster(durable uint64) *broadcaster {
	return &broadcaster{ch: make(chan struct{}), durable: durable}
}

// wait returns a channel closed at the next wake, the last durable
// change, or the error that ended the DB.
func (b *broadcaster) wait() (<-chan struct{}, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch, b.durable, b.err
}

// wake records that the log is durable up to seq and wakes every listener.
func (b *broadcaster) wake(seq uint64) {
	b.mu.Lock()
	if seq > b.durable {
		b.durable = seq
	}
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}

// close ends every listener with err.
func (b *broadcaster) close(err error) {
	b.mu.Lock()
	b.err = err
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}
