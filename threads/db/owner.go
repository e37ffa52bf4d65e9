package db

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// Owner returns the principal that owns DB id, whoever asks. It is for
// trusted server-side readers that act on the owner's behalf (the HTTP
// gateway reads a bucket's root this way); callers do their own access
// checks. NotExist if there is no such DB.
func (m *Manager) Owner(ctx context.Context, id threads.ID) (hub.Principal, error) {
	const op errors.Op = "db.Owner"
	d, err := m.open(id)
	if err != nil {
		return hub.Principal{}, errors.E(op, err)
	}
	return d.principal(), nil
}

// EachDB calls fn with the ID of every DB this hub holds. A DB for which
// fn fails (or whose listing is malformed) is passed to failed and
// skipped: one broken or hostile DB never stops a pass over all of them.
// The error returned is the store's or ctx's. Like Owner, it is for
// trusted server-side readers.
func (m *Manager) EachDB(ctx context.Context, fn func(threads.ID) error, failed func(threads.ID, error)) error {
	const op errors.Op = "db.EachDB"
	prefix := ownerPrefix("")
	prefix = prefix[:len(prefix)-1] // "dbown/": every scope
	err := m.st.Scan(prefix, func(k, _ []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw := string(k[bytes.LastIndexByte(k, '/')+1:])
		id, err := threads.Decode(raw)
		if err == nil {
			err = fn(id)
		} else {
			id = threads.ID(raw)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed(id, err)
		}
		return nil
	})
	if err != nil {
		return errors.E(op, err)
	}
	return nil
}

// StoredInstance returns the stored JSON of instance id in collection of
// DB thread, whoever owns the DB, as written: no read filter runs and no
// access is checked. It is for the hub's own bookkeeping (a migration, the
// gateway), which must never run a tenant's code. NotExist if the DB, the
// collection or the instance is not there.
func (m *Manager) StoredInstance(ctx context.Context, thread threads.ID, collection, id string) (json.RawMessage, error) {
	const op errors.Op = "db.StoredInstance"
	pfx := dbPrefix(thread)
	var col colRecord
	if err := m.st.Get(colKey(pfx, collection), &col); err != nil {
		return nil, errors.E(op, err)
	}
	rec, err := readDoc(m.st, docKey(pfx, collection, id))
	if err != nil {
		return nil, errors.E(op, err)
	}
	if !rec.visible(&col) {
		return nil, errors.Errorf(op, errors.NotExist, "instance %q not found in collection %s", errors.Clip(id), collection)
	}
	return rec.Value, nil
}

// StoredCollection returns the config of collection in DB thread as
// stored, whoever owns the DB, without opening the DB (nothing is compiled
// or run). Like StoredInstance, it is for the hub's own bookkeeping.
// NotExist if the DB or the collection is not there, or the collection was
// deleted.
func (m *Manager) StoredCollection(ctx context.Context, thread threads.ID, collection string) (CollectionConfig, error) {
	const op errors.Op = "db.StoredCollection"
	var col colRecord
	if err := m.st.Get(colKey(dbPrefix(thread), collection), &col); err != nil {
		return CollectionConfig{}, errors.E(op, err)
	}
	if col.Deleted {
		return CollectionConfig{}, errors.Errorf(op, errors.NotExist, "collection %q was deleted", errors.Clip(collection))
	}
	return col.Config, nil
}
