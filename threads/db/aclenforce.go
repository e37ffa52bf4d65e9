package db

import (
	"context"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// How a DB keeps its records and state within its access control list
// (acl.go): refuseRecord at the door of Ingest, mayWrite at the door of
// local writes, and enforceACL after an ACL operation is written or
// ingested, which reads the list again and drops what it no longer allows.

// refuseRecord returns the refusal of record rec at position pos of its
// log, or nil when the list allows it (a logstore.Admit).
func (d *DB) refuseRecord(rec threads.Record, pos int64) error {
	s := d.acl.Load()
	if s == nil {
		return nil
	}
	if n, why := s.allowed(rec.LogID.String()); pos > n {
		return errors.E(errors.FailedPrecondition, &ACLRefusal{Record: rec.Cid.String(), Log: rec.LogID.String(), Reason: why})
	}
	return nil
}

// enforceACL reads the list again from the records, stores it, and drops
// the records it no longer allows: each such log is truncated to what it
// allows and the DB's state is rebuilt from the records that remain, with
// the changes reported to listeners. The caller holds the write lock;
// every journal entry must have its record first, since the rebuild
// replays records only.
func (d *DB) enforceACL(ctx context.Context) error {
	const op errors.Op = "db.enforceACL"
	if d.acl.Load() == nil {
		return nil
	}
	if err := d.former.wait(ctx); err != nil {
		return errors.E(op, err)
	}
	d.former.lockLogs()
	defer d.former.unlockLogs()
	s, err := d.computeACL()
	if err != nil {
		return errors.E(op, err)
	}
	logs, err := d.m.threads.Logs(d.id)
	if err != nil {
		return errors.E(op, err)
	}
	keep := map[peer.ID]int64{}
	cut := false
	for _, l := range logs {
		n, _ := s.allowed(l.ID.String())
		keep[l.ID] = min(n, l.Counter)
		cut = cut || n < l.Counter
	}
	b := d.m.st.NewBatch()
	b.Put(aclKey(d.pfx), s)
	b.Delete(aclStaleKey(d.pfx))
	if !cut {
		if err := b.Commit(); err != nil {
			return errors.E(op, err)
		}
		d.acl.Store(s)
		return nil
	}
	for lid, n := range keep {
		if err := d.m.threads.Truncate(b, d.id, lid, n); err != nil {
			return errors.E(op, err)
		}
	}
	a, err := d.rebuildState(b, keep)
	if err != nil {
		return errors.E(op, err)
	}
	durable, err := commit(b, a)
	if err == nil {
		err = durable()
	}
	if err != nil {
		return errors.E(op, err)
	}
	d.acl.Store(s)
	d.m.announce(d.id)
	return nil
}

// rebuildState writes into b the DB's state made anew from the first
// keep[log] records of each log, and the listen changes from the state
// stored to it. The whole state is held in memory while it is rebuilt:
// it is done only when a revocation drops records already applied.
func (d *DB) rebuildState(b *store.Batch, keep map[peer.ID]int64) (*applier, error) {
	a := d.newApplier(b)
	a.fresh = true
	for lid, n := range keep {
		recs, err := d.m.threads.Records(d.id, lid)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs[:n] {
			body, err := d.recordBody(rec)
			if err != nil {
				return nil, err
			}
			d.clock = max(d.clock, body.Time)
			if err := a.apply(body, lid.String()); err != nil {
				return nil, err
			}
		}
	}
	for name := range a.cols {
		a.rebuild[name] = true
	}
	if err := a.resolveUnique(); err != nil {
		return nil, err
	}
	// What was there, for the listeners and the byte count.
	docs := join(d.pfx, "doc/")
	old := map[string]*docRecord{}
	err := scanDocs(d.m.st.ScanRange, docs, func(k []byte, r *docRecord) error {
		old[string(k)] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	oldCols := map[string]*colRecord{}
	err = store.ScanJSON(d.m.st, colPrefix(d.pfx), func(_ []byte, c *colRecord) error {
		oldCols[c.Config.Name] = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.DeletePrefix(colPrefix(d.pfx))
	b.DeletePrefix(docs)
	b.DeletePrefix(join(d.pfx, "idx/"))
	for name, c := range a.cols {
		if c != nil {
			b.Put(colKey(d.pfx, name), *c)
		}
	}
	for k, r := range a.docs {
		if r != nil {
			b.PutRaw([]byte(k), r.encode())
		}
	}
	a.changes = nil
	a.bytes = -d.bytes
	for k, r := range a.docs {
		if r != nil {
			a.bytes += int64(len(r.Value))
		}
		if _, ok := old[k]; !ok {
			old[k] = nil
		}
	}
	for k, before := range old {
		col, id, _ := strings.Cut(k[len(docs):], "/")
		after := a.docs[k]
		was, is := before.visible(oldCols[col]), after.visible(a.cols[col])
		switch {
		case !was && is:
			a.changes = append(a.changes, change{Col: col, ID: id, Action: ActionCreate, Value: after.Value})
		case was && is && string(before.Value) != string(after.Value):
			a.changes = append(a.changes, change{Col: col, ID: id, Action: ActionSave, Value: after.Value})
		case was && !is:
			a.changes = append(a.changes, change{Col: col, ID: id, Action: ActionDelete})
		}
	}
	if err := a.finish(); err != nil {
		return nil, err
	}
	return a, nil
}
