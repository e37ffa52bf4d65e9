package db

import (
	"context"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// What peer replication (threads/replicate) needs of the Manager: to be
// told when a DB's logs gain records, and to apply the records other peers
// send. A DB joined from another peer is made with NewDB, with the
// thread's key and no collections: its history arrives as records.

// OnRecords sets fn, which is called with a DB's ID each time its logs gain
// records: formed from its own writes (applied, but perhaps not yet synced:
// store.Sync makes them durable) or ingested from a peer (durable). fn must
// not block: it runs on the writer's or the former's path. A hub sets it
// once, before it serves; nil stops the calls.
func (m *Manager) OnRecords(fn func(threads.ID)) {
	if fn == nil {
		m.records.Store(nil)
		return
	}
	m.records.Store(&fn)
}

// announce calls the OnRecords function, if there is one.
func (m *Manager) announce(id threads.ID) {
	if fn := m.records.Load(); fn != nil {
		(*fn)(id)
	}
}

// IngestBatch applies records other peers sent to DB id, whoever owns it,
// as DB.IngestBatch does: NotExist when the hub has no such DB, and
// DB.IngestBatch's refusals otherwise. It is for the replicator, which
// checks that the peer holds the thread's key before it gets here; the
// records themselves are verified here.
func (m *Manager) IngestBatch(ctx context.Context, id threads.ID, records [][]threads.Block) (int, error) {
	const op errors.Op = "db.Manager.IngestBatch"
	d, err := m.open(id)
	if err != nil {
		return 0, errors.E(op, err)
	}
	return d.IngestBatch(ctx, records)
}
