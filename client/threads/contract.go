package threadsclient

import (
	"context"
	"encoding/json"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

var _ hub.Threads = contract{}

// Threads returns c as the hub.Threads contract, for code written against
// the contract rather than this client (the conformance suite, tools that
// work with a hub in process or over the network alike).
//
// The client's own methods are shaped for its callers: instances and IDs
// as variadic arguments, queries as *query.Query values, and DBInfo with
// the thread key as a threads.Key and the DB's addresses. The contract
// takes slices and the query's JSON form, which the hub's service can
// take as well, and leaves the addresses (the server's knowledge) out.
// Where the two shapes agree, the contract's methods are the client's own.
func (c *Client) Threads() hub.Threads { return contract{c} }

// contract is a Client as hub.Threads; the methods it does not define are
// the Client's.
type contract struct{ *Client }

func (c contract) NewDB(ctx context.Context, id hub.ThreadID, opts hub.DBOptions) (hub.ThreadID, error) {
	const op errors.Op = "threadsclient.NewDB"
	o := DBOptions{Name: opts.Name, Collections: opts.Collections}
	if len(opts.Key) > 0 {
		k, err := threads.KeyFromBytes(opts.Key)
		if err != nil {
			return "", errors.E(op, err)
		}
		o.Key = k
	}
	return c.Client.NewDB(ctx, id, o)
}

// contract returns i as the contract's DBInfo.
func (i DBInfo) contract() hub.DBInfo { return hub.DBInfo{ID: i.ID, Name: i.Name, Key: i.Key.Bytes()} }

func (c contract) ListDBs(ctx context.Context) ([]hub.DBInfo, error) {
	infos, err := c.Client.ListDBs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]hub.DBInfo, len(infos))
	for i, info := range infos {
		out[i] = info.contract()
	}
	return out, nil
}

func (c contract) GetDBInfo(ctx context.Context, db hub.ThreadID) (hub.DBInfo, error) {
	info, err := c.Client.GetDBInfo(ctx, db)
	if err != nil {
		return hub.DBInfo{}, err
	}
	return info.contract(), nil
}

func (c contract) Create(ctx context.Context, db hub.ThreadID, collection string, instances []json.RawMessage) ([]string, error) {
	return c.Client.Create(ctx, db, collection, instances...)
}

func (c contract) Save(ctx context.Context, db hub.ThreadID, collection string, instances []json.RawMessage) error {
	return c.Client.Save(ctx, db, collection, instances...)
}

func (c contract) Verify(ctx context.Context, db hub.ThreadID, collection string, instances []json.RawMessage) error {
	return c.Client.Verify(ctx, db, collection, instances...)
}

func (c contract) Delete(ctx context.Context, db hub.ThreadID, collection string, ids []string) error {
	return c.Client.Delete(ctx, db, collection, ids...)
}

func (c contract) Has(ctx context.Context, db hub.ThreadID, collection string, ids []string) (bool, error) {
	return c.Client.Has(ctx, db, collection, ids...)
}

func (c contract) Find(ctx context.Context, db hub.ThreadID, collection string, query []byte) ([]json.RawMessage, error) {
	return c.FindJSON(ctx, db, collection, query)
}

func (c contract) ReadTransaction(ctx context.Context, db hub.ThreadID, collection string) (hub.ReadTxn, error) {
	t, err := c.Client.ReadTransaction(ctx, db, collection)
	if err != nil {
		return nil, err
	}
	return readTxn{t}, nil
}

func (c contract) WriteTransaction(ctx context.Context, db hub.ThreadID, collection string) (hub.WriteTxn, error) {
	t, err := c.Client.WriteTransaction(ctx, db, collection)
	if err != nil {
		return nil, err
	}
	return writeTxn{t}, nil
}

// readTxn is a ReadTxn as hub.ReadTxn; FindByID and End are its own.
type readTxn struct{ *ReadTxn }

func (t readTxn) Has(ids []string) (bool, error)               { return t.ReadTxn.Has(ids...) }
func (t readTxn) Find(query []byte) ([]json.RawMessage, error) { return t.FindJSON(query) }

// writeTxn is a WriteTxn as hub.WriteTxn; FindByID and Discard are its
// own, and Commit is End.
type writeTxn struct{ *WriteTxn }

func (t writeTxn) Has(ids []string) (bool, error)               { return t.WriteTxn.Has(ids...) }
func (t writeTxn) Find(query []byte) ([]json.RawMessage, error) { return t.FindJSON(query) }
func (t writeTxn) Create(instances []json.RawMessage) ([]string, error) {
	return t.WriteTxn.Create(instances...)
}
func (t writeTxn) Save(instances []json.RawMessage) error   { return t.WriteTxn.Save(instances...) }
func (t writeTxn) Verify(instances []json.RawMessage) error { return t.WriteTxn.Verify(instances...) }
func (t writeTxn) Delete(ids []string) error                { return t.WriteTxn.Delete(ids...) }
func (t writeTxn) Commit() error                            { return t.End() }
