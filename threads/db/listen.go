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
}

// FromNow starts a listener at the DB's latest change.
const FromNow = ^uint64(0)

// listenBatch is how many changes a listener reads from the log at once,
// and listenBatchBytes how many bytes of them: a listener that does not
// read holds one batch while it waits, so the batch is what a stalled
// listener costs, whatever the size of the instances.
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
	for {
		wake, durable, err := d.listeners.wait()
		if err != nil {
			return err
		}
		batch, full, err := d.readChanges(op, pos, durable)
		if err != nil {
			return err
		}
		for _, c := range batch {
			if err := d.deliver(ctx, p, c, filters, fn); err != nil {
				return err
			}
			pos = c.seq
		}
		if full {
			continue // more may be waiting: read on without sleeping
		}
		select {
		case <-ctx.Done():
			return errors.E(op, ctx.Err())
		case <-wake:
		}
	}
}

// seqChange is a change with its position in the listen log.
type seqChange struct {
	seq uint64
	change
}

// readChanges reads up to listenBatch changes or listenBatchBytes (and at
// least one change) after position pos, up to the durable one, and says
// whether it stopped at a bound. It reads them all before any is delivered, so that a
// slow listener does not hold the store's iterator (and the files it
// pins) while it takes its time. Changes are numbered without gaps, so a
// first change other than pos+1 means the history was trimmed past pos
// while the listener lagged: that is an error, never a silent skip.
func (d *DB) readChanges(op errors.Op, pos, durable uint64) ([]seqChange, bool, error) {
	var (
		batch []seqChange
		size  int
	)
	err := d.m.st.ScanRange(chgKey(d.pfx, pos+1), chgKey(d.pfx, durable+1), func(k, v []byte) error {
		c := seqChange{seq: binary.BigEndian.Uint64(k[len(k)-8:])}
		if len(batch) == 0 && c.seq != pos+1 {
			return errors.Errorf(op, errors.FailedPrecondition, "changes %d to %d are no longer kept (this hub keeps the last %d): listen from now and reload the collection", pos+1, c.seq-1, d.m.cfg.ListenHistory)
		}
		if err := json.Unmarshal(v, &c.change); err != nil {
			return errors.E(errors.Internal, err)
		}
		batch, size = append(batch, c), size+len(v)
		if len(batch) == listenBatch || size >= listenBatchBytes {
			return errStopScan
		}
		return nil
	})
	if err != nil && err != errStopScan {
		return nil, false, err
	}
	return batch, err == errStopScan, nil
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
func (d *DB) deliver(ctx context.Context, p hub.Principal, c seqChange, filters []ListenFilter, fn func(Event) error) error {
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
	ev := Event{Seq: c.seq, Collection: c.Col, ID: c.ID, Action: c.Action, Instance: c.Value}
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
			ev.Instance = v
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
