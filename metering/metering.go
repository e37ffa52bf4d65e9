// Package metering counts what each user of a hub uses: instance reads and
// writes and network egress, per identity within its account (an app's
// user, or a developer or org itself). Counts are kept in memory and
// flushed to the store every FlushInterval and on Close, so a crash loses
// at most that interval's counts; they are never double counted.
package metering

import (
	"context"
	"sync"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// FlushInterval is how often counts are written to the store.
const FlushInterval = 5 * time.Second

// Counts are usage figures.
type Counts struct {
	Reads  int64 // instances read (found, fetched, delivered to a listener)
	Writes int64 // instances written (created, saved, deleted)
	Egress int64 // bytes sent in responses
}

func (c *Counts) add(d Counts) {
	c.Reads += d.Reads
	c.Writes += d.Writes
	c.Egress += d.Egress
}

// Subject is whose usage a count is: an identity within an account. For a
// developer or an org, Identity is the account itself.
type Subject struct {
	Account  hub.PubKey
	Identity hub.PubKey
}

// SubjectOf is the subject a principal's usage is counted against.
func SubjectOf(p hub.Principal) Subject { return Subject{Account: p.Account, Identity: p.Owner()} }

// Meter counts usage. It is safe for concurrent use.
type Meter struct {
	st *store.Store

	// flushMu serialises Flush, and Usage against it, so that stored
	// totals are read and written by one flush at a time and a flush in
	// progress is never missed by a reader.
	flushMu sync.Mutex

	// mu guards pending.
	mu      sync.Mutex
	pending map[Subject]*Counts

	stop chan struct{}
	done chan struct{}
}

// New returns a Meter that persists into st and flushes in the background
// until Close.
func New(st *store.Store) *Meter {
	m := &Meter{st: st, pending: map[Subject]*Counts{}, stop: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	return m
}

func (m *Meter) run() {
	defer close(m.done)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Flush()
		}
	}
}

// Close stops the background flush and flushes what is pending.
func (m *Meter) Close() error {
	close(m.stop)
	<-m.done
	return m.Flush()
}

// Add counts usage for the principal; principals without an identity
// (anonymous calls) are not counted. A nil Meter counts nothing.
func (m *Meter) Add(p hub.Principal, c Counts) {
	if m == nil {
		return
	}
	s := SubjectOf(p)
	if s.Identity == "" || c == (Counts{}) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.pending[s]
	if cur == nil {
		cur = &Counts{}
		m.pending[s] = cur
	}
	cur.add(c)
}

// CountInstances counts instances p read and wrote: the counter hook
// ThreadDB is given (db.Config.Count).
func (m *Meter) CountInstances(p hub.Principal, reads, writes int64) {
	m.Add(p, Counts{Reads: reads, Writes: writes})
}

func key(s Subject) []byte { return store.Key(store.Usage, string(s.Account), string(s.Identity)) }

// Flush adds the pending counts to the stored ones, in one batch.
func (m *Meter) Flush() error {
	const op errors.Op = "metering.Flush"
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	m.mu.Lock()
	pending := m.pending
	m.pending = map[Subject]*Counts{}
	m.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	b := m.st.NewBatch()
	for s, c := range pending {
		var total Counts
		if err := m.st.Get(key(s), &total); err != nil && !errors.Is(errors.NotExist, err) {
			return errors.E(op, err)
		}
		total.add(*c)
		b.Put(key(s), total)
	}
	if err := b.Commit(); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// Usage returns the subject's counts so far, stored and pending.
func (m *Meter) Usage(ctx context.Context, s Subject) (Counts, error) {
	const op errors.Op = "metering.Usage"
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	var total Counts
	if err := m.st.Get(key(s), &total); err != nil && !errors.Is(errors.NotExist, err) {
		return Counts{}, errors.E(op, err)
	}
	m.mu.Lock()
	if c := m.pending[s]; c != nil {
		total.add(*c)
	}
	m.mu.Unlock()
	return total, nil
}
