package db

import (
	"context"
	"encoding/json"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

var _ hub.ThreadServer = (*Manager)(nil)

// Threads returns the hub's DBs bound to the principal p: the hub.Threads
// that the API serves to p. It converts between the package's types and the
// contract's, and runs each single call in a transaction of its own.
func (m *Manager) Threads(p hub.Principal) hub.Threads { return bound{m: m, p: p} }

// bound is the Manager as one caller sees it.
type bound struct {
	m *Manager
	p hub.Principal
}

func (b bound) NewDB(ctx context.Context, id hub.ThreadID, opts hub.DBOptions) (hub.ThreadID, error) {
	const op errors.Op = "db.NewDB"
	if id == "" {
		var err error
		if id, err = threads.NewID(threads.Raw); err != nil {
			return "", errors.E(op, err)
		}
	}
	if id.Variant() == threads.AccessControlled {
		return "", errors.Errorf(op, errors.Invalid, "DB ID %s is access controlled: such an ID names the key of the DB's root log, so the hub makes it; send a raw ID (variant 0x55) or none", id)
	}
	key, cols, err := dbOptions(opts)
	if err != nil {
		return "", errors.E(op, err)
	}
	if _, err := b.m.NewDB(ctx, b.p, id, opts.Name, key, cols); err != nil {
		return "", err
	}
	return id, nil
}

// dbOptions reads the key (nil when none is given) and the collections
// of NewDB's options.
func dbOptions(opts hub.DBOptions) (*threads.Key, []CollectionConfig, error) {
	var key *threads.Key
	if len(opts.Key) > 0 {
		k, err := threads.KeyFromBytes(opts.Key)
		if err != nil {
			return nil, nil, err
		}
		key = &k
	}
	cols := make([]CollectionConfig, len(opts.Collections))
	for i, c := range opts.Collections {
		cols[i] = configOf(c)
	}
	return key, cols, nil
}

// contract returns i as the contract's DBInfo.
func (i Info) contract() hub.DBInfo { return hub.DBInfo{ID: i.ID, Name: i.Name, Key: i.Key.Bytes()} }

func (b bound) ListDBs(ctx context.Context) ([]hub.DBInfo, error) {
	infos, err := b.m.ListDBs(ctx, b.p)
	if err != nil {
		return nil, err
	}
	out := make([]hub.DBInfo, len(infos))
	for i, info := range infos {
		out[i] = info.contract()
	}
	return out, nil
}

func (b bound) GetDBInfo(ctx context.Context, db hub.ThreadID) (hub.DBInfo, error) {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return hub.DBInfo{}, err
	}
	return d.Info().contract(), nil
}

func (b bound) DeleteDB(ctx context.Context, db hub.ThreadID) error {
	return b.m.DeleteDB(ctx, b.p, db)
}

// configOf returns the contract's collection config as the package's.
func configOf(c hub.CollectionConfig) CollectionConfig {
	out := CollectionConfig{Name: c.Name, Schema: c.Schema, WriteValidator: c.WriteValidator, ReadFilter: c.ReadFilter}
	for _, ix := range c.Indexes {
		out.Indexes = append(out.Indexes, Index(ix))
	}
	return out
}

// contract returns c as the contract's collection config.
func (c CollectionConfig) contract() hub.CollectionConfig {
	out := hub.CollectionConfig{Name: c.Name, Schema: c.Schema, WriteValidator: c.WriteValidator, ReadFilter: c.ReadFilter}
	for _, ix := range c.Indexes {
		out.Indexes = append(out.Indexes, hub.Index(ix))
	}
	return out
}

func (b bound) NewCollection(ctx context.Context, db hub.ThreadID, c hub.CollectionConfig) error {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return err
	}
	return d.NewCollection(ctx, b.p, configOf(c))
}

func (b bound) UpdateCollection(ctx context.Context, db hub.ThreadID, c hub.CollectionConfig) error {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return err
	}
	return d.UpdateCollection(ctx, b.p, configOf(c))
}

func (b bound) DeleteCollection(ctx context.Context, db hub.ThreadID, name string) error {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return err
	}
	return d.DeleteCollection(ctx, b.p, name)
}

func (b bound) GetCollectionInfo(ctx context.Context, db hub.ThreadID, name string) (hub.CollectionConfig, error) {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return hub.CollectionConfig{}, err
	}
	c, err := d.CollectionInfo(ctx, name)
	if err != nil {
		return hub.CollectionConfig{}, err
	}
	return c.contract(), nil
}

func (b bound) ListCollections(ctx context.Context, db hub.ThreadID) ([]hub.CollectionConfig, error) {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return nil, err
	}
	cols := d.Collections(ctx)
	out := make([]hub.CollectionConfig, len(cols))
	for i, c := range cols {
		out[i] = c.contract()
	}
	return out, nil
}

// oneShot runs fn in a transaction of its own on a collection: a read
// transaction, or a write transaction committed when fn succeeds.
func (b bound) oneShot(ctx context.Context, db hub.ThreadID, collection string, write bool, fn func(*Txn) error) error {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return err
	}
	begin := d.ReadTxn
	if write {
		begin = d.WriteTxn
	}
	t, err := begin(ctx, b.p, collection)
	if err != nil {
		return err
	}
	defer t.Discard()
	if err := fn(t); err != nil {
		return err
	}
	if write {
		return t.Commit(ctx)
	}
	return nil
}

func (b bound) Create(ctx context.Context, db hub.ThreadID, collection string, instances []json.RawMessage) (ids []string, err error) {
	err = b.oneShot(ctx, db, collection, true, func(t *Txn) error {
		ids, err = t.Create(ctx, rawBytes(instances))
		return err
	})
	return ids, err
}

func (b bound) Save(ctx context.Context, db hub.ThreadID, collection string, instances []json.RawMessage) error {
	return b.oneShot(ctx, db, collection, true, func(t *Txn) error { return t.Save(ctx, rawBytes(instances)) })
}

func (b bound) Verify(ctx context.Context, db hub.ThreadID, collection string, instances []json.RawMessage) error {
	return b.oneShot(ctx, db, collection, false, func(t *Txn) error { return t.Verify(ctx, rawBytes(instances)) })
}

func (b bound) Delete(ctx context.Context, db hub.ThreadID, collection string, ids []string) error {
	return b.oneShot(ctx, db, collection, true, func(t *Txn) error { return t.Delete(ctx, ids) })
}

func (b bound) Has(ctx context.Context, db hub.ThreadID, collection string, ids []string) (ok bool, err error) {
	err = b.oneShot(ctx, db, collection, false, func(t *Txn) error {
		ok, err = t.Has(ctx, ids)
		return err
	})
	return ok, err
}

func (b bound) Find(ctx context.Context, db hub.ThreadID, collection string, query []byte) (found []json.RawMessage, err error) {
	err = b.oneShot(ctx, db, collection, false, func(t *Txn) error {
		found, err = t.Find(ctx, query)
		return err
	})
	return found, err
}

func (b bound) FindByID(ctx context.Context, db hub.ThreadID, collection, id string) (inst json.RawMessage, err error) {
	err = b.oneShot(ctx, db, collection, false, func(t *Txn) error {
		inst, err = t.FindByID(ctx, id)
		return err
	})
	return inst, err
}

func (b bound) ReadTransaction(ctx context.Context, db hub.ThreadID, collection string) (hub.ReadTxn, error) {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return nil, err
	}
	t, err := d.ReadTxn(ctx, b.p, collection)
	if err != nil {
		return nil, err
	}
	return boundTxn{ctx: ctx, t: t}, nil
}

func (b bound) WriteTransaction(ctx context.Context, db hub.ThreadID, collection string) (hub.WriteTxn, error) {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return nil, err
	}
	t, err := d.WriteTxn(ctx, b.p, collection)
	if err != nil {
		return nil, err
	}
	return boundTxn{ctx: ctx, t: t}, nil
}

func (b bound) Listen(ctx context.Context, db hub.ThreadID, filters []hub.ListenFilter, after uint64, fn func(hub.ListenEvent) error) error {
	const op errors.Op = "db.Listen"
	fs := make([]ListenFilter, len(filters))
	for i, f := range filters {
		fs[i] = ListenFilter{Collection: f.Collection, ID: f.InstanceID}
		switch {
		case f.Action == hub.ActionAll:
		case f.Action >= hub.ActionCreate && f.Action <= hub.ActionDelete:
			// The contract's actions count from ActionAll; the
			// package's from create.
			fs[i].Actions = []Action{Action(f.Action - hub.ActionCreate)}
		default:
			return errors.Errorf(op, errors.Invalid, "filter action %d; use ALL (0), CREATE (1), SAVE (2) or DELETE (3)", int(f.Action))
		}
	}
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return err
	}
	since := FromNow
	if after > 0 {
		since = after
	}
	err = d.Listen(ctx, b.p, since, fs, func(ev Event) error {
		out := hub.ListenEvent{Seq: ev.Seq, Collection: ev.Collection, InstanceID: ev.ID,
			Action: hub.Action(ev.Action) + hub.ActionCreate, Instance: ev.Instance}
		if ev.shared != nil {
			out.Encode = func(enc func(hub.ListenEvent) ([]byte, error)) ([]byte, error) {
				return ev.Encode(func(Event) ([]byte, error) { return enc(out) })
			}
		}
		return fn(out)
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		return errors.E(op, errors.DeadlineExceeded, err)
	case ctx.Err() != nil:
		return errors.E(op, errors.Canceled, err)
	}
	return err
}

// boundTxn is a transaction whose calls run under the context it began
// with, as the contract's are.
type boundTxn struct {
	ctx context.Context
	t   *Txn
}

func (x boundTxn) Has(ids []string) (bool, error)               { return x.t.Has(x.ctx, ids) }
func (x boundTxn) Find(query []byte) ([]json.RawMessage, error) { return x.t.Find(x.ctx, query) }
func (x boundTxn) FindByID(id string) (json.RawMessage, error)  { return x.t.FindByID(x.ctx, id) }
func (x boundTxn) Create(instances []json.RawMessage) ([]string, error) {
	return x.t.Create(x.ctx, rawBytes(instances))
}
func (x boundTxn) Save(instances []json.RawMessage) error {
	return x.t.Save(x.ctx, rawBytes(instances))
}
func (x boundTxn) Verify(instances []json.RawMessage) error {
	return x.t.Verify(x.ctx, rawBytes(instances))
}
func (x boundTxn) Delete(ids []string) error { return x.t.Delete(x.ctx, ids) }
func (x boundTxn) Commit() error             { return x.t.Commit(x.ctx) }

// End and Discard both release the transaction; a write transaction's
// writes are dropped.
func (x boundTxn) End() error     { x.t.Discard(); return nil }
func (x boundTxn) Discard() error { x.t.Discard(); return nil }

func rawBytes(in []json.RawMessage) [][]byte {
	out := make([][]byte, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}
