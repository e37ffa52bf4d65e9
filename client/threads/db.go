package threadsclient

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db/query"
)

// CollectionConfig describes a collection: the contract's type (see
// hub.CollectionConfig).
type CollectionConfig = hub.CollectionConfig

// Index is an index on a field path: the contract's type.
type Index = hub.Index

// DBInfo describes a DB.
type DBInfo struct {
	ID   ID
	Name string
	// Key is the thread key, which reads and writes the DB's records.
	Key Key
	// Addrs are the addresses peers reach the DB at,
	// /…/p2p/<hub peer>/thread/<id>.
	Addrs []string
}

// DBOptions are the optional settings of a new DB.
type DBOptions struct {
	// Name names the DB; names are unique among the caller's DBs.
	Name string
	// Collections are created with the DB.
	Collections []CollectionConfig
	// Key is the thread key to use (service and read key); the zero Key
	// asks the server for a fresh one.
	Key Key
}

// NewDB creates a DB owned by the caller and returns its ID. When id is
// empty a new random one is made, as the JavaScript client does. It fails
// with Exist if the ID or the name is taken, Invalid for a bad collection
// config and Exhausted when the caller owns as many DBs as the hub allows.
func (c *Client) NewDB(ctx context.Context, id ID, opts DBOptions) (ID, error) {
	const op errors.Op = "threadsclient.NewDB"
	if id == "" {
		var err error
		if id, err = threads.NewID(threads.Raw); err != nil {
			return "", errors.E(op, err)
		}
	}
	req := &threadspb.NewDBRequest{DbID: id.Bytes(), Name: opts.Name}
	if opts.Key.Defined() {
		req.Key = opts.Key.Bytes()
	}
	for _, cc := range opts.Collections {
		req.Collections = append(req.Collections, configToPB(cc))
	}
	if _, err := c.c.NewDB(ctx, req); err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	return id, nil
}

// JoinOptions are the optional settings of NewDBFromAddr: the fields of
// the wire's NewDBFromAddrRequest besides the address and the key.
type JoinOptions struct {
	// Name names the DB; names are unique among the caller's DBs.
	Name string
	// Collections are created in the DB once it is joined.
	Collections []CollectionConfig
	// Block asks the server to answer only once it has pulled the records
	// the DB already holds.
	Block bool
	// ThreadKey, when defined, fills the request's separate threadKey
	// field (the thread key option of the go-threads clients); callers
	// normally leave it empty and pass the key to NewDBFromAddr.
	ThreadKey Key
	// LogKey is the key of the caller's own log in the DB's thread, a
	// crypto.PrivKey (the server writes the caller's records with it) or
	// a crypto.PubKey (records are made elsewhere and added); nil lets the
	// server make one. hubd refuses one (Invalid).
	LogKey crypto.Key
}

// NewDBFromAddr joins a DB that another peer hosts, for the caller, and
// returns its ID. addr is the DB's address, /…/p2p/<peer>/thread/<id>, and
// key its thread key, as GetDBInfo gives them. hubd answers once the DB's
// history has arrived; from then on the two hubs keep it in sync. A
// malformed address or a missing key is Invalid, before anything is sent;
// hubd answers Unavailable when it cannot reach the peer,
// FailedPrecondition when the peer does not hold the DB with that key, and
// Invalid for a LogKey (it makes its writers' log keys).
func (c *Client) NewDBFromAddr(ctx context.Context, addr string, key Key, opts JoinOptions) (ID, error) {
	const op errors.Op = "threadsclient.NewDBFromAddr"
	b, id, err := addrBytes(addr)
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "DB address %q: %v", addr, err)
	}
	if !key.Defined() {
		return "", errors.E(op, errors.Invalid, "joining a DB needs its thread key, as GetDBInfo gives it")
	}
	req := &threadspb.NewDBFromAddrRequest{Addr: b, Key: key.Bytes(), Name: opts.Name, Block: opts.Block}
	for _, cc := range opts.Collections {
		req.Collections = append(req.Collections, configToPB(cc))
	}
	if opts.ThreadKey.Defined() {
		req.ThreadKey = opts.ThreadKey.Bytes()
	}
	if opts.LogKey != nil {
		if req.LogKey, err = marshalKey(opts.LogKey); err != nil {
			return "", errors.E(op, errors.Invalid, err)
		}
	}
	if _, err := c.c.NewDBFromAddr(ctx, req); err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	return id, nil
}

// AddReplicator asks hubd to replicate the thread at addr
// (/…/p2p/<peer>/thread/<id>, an app's own peer holding it) with key, the
// thread's service key only: hubd pulls the thread's records before it
// answers, then keeps and relays them, for the caller's account, and
// reads none. It is NewDBFromAddr with a service key (which the
// JavaScript client's newDBFromAddr sends the same way); a key that can
// read is Invalid here, before anything is sent. threaddb's Node uses it
// (threaddb.Replicators).
func (c *Client) AddReplicator(ctx context.Context, addr string, key Key) error {
	const op errors.Op = "threadsclient.AddReplicator"
	if key.CanRead() {
		return errors.E(op, errors.Invalid, "a replicator is given the thread's service key only (Key.ServiceOnly); hubd would otherwise read the thread")
	}
	if _, err := c.NewDBFromAddr(ctx, addr, key, JoinOptions{}); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// RemoveReplicator asks hubd to stop replicating thread id for the
// caller, which AddReplicator made it the replicator of: hubd deletes the
// thread's records and no longer counts them. It is DeleteDB of the
// thread's ID (which hubd answers so for a thread it replicates); NotExist
// when hubd replicates no such thread for the caller.
func (c *Client) RemoveReplicator(ctx context.Context, id ID) error {
	const op errors.Op = "threadsclient.RemoveReplicator"
	if err := c.DeleteDB(ctx, id); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// marshalKey gives a log key in libp2p's protobuf form, the wire's.
func marshalKey(k crypto.Key) ([]byte, error) {
	switch k := k.(type) {
	case crypto.PrivKey:
		return crypto.MarshalPrivateKey(k)
	case crypto.PubKey:
		return crypto.MarshalPublicKey(k)
	}
	return nil, fmt.Errorf("log key %T is neither a private nor a public key", k)
}

// ListDBs lists the caller's own DBs.
func (c *Client) ListDBs(ctx context.Context) ([]DBInfo, error) {
	const op errors.Op = "threadsclient.ListDBs"
	r, err := c.c.ListDBs(ctx, &threadspb.ListDBsRequest{})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	out := make([]DBInfo, 0, len(r.GetDbs()))
	for _, d := range r.GetDbs() {
		id, err := threads.Cast(d.GetDbID())
		if err != nil {
			return nil, errors.Errorf(op, errors.Internal, "server listed a malformed DB ID 0x%s: %s", hexClip(d.GetDbID()), errors.Message(err))
		}
		info, err := dbInfo(id, d.GetInfo())
		if err != nil {
			return nil, errors.E(op, err)
		}
		out = append(out, info)
	}
	return out, nil
}

// GetDBInfo describes one of the caller's DBs. A DB that does not exist,
// or is someone else's, is NotExist.
func (c *Client) GetDBInfo(ctx context.Context, id ID) (DBInfo, error) {
	const op errors.Op = "threadsclient.GetDBInfo"
	r, err := c.c.GetDBInfo(ctx, &threadspb.GetDBInfoRequest{DbID: id.Bytes()})
	if err != nil {
		return DBInfo{}, rpcerr.FromStatus(op, err)
	}
	info, err := dbInfo(id, r)
	if err != nil {
		return DBInfo{}, errors.E(op, err)
	}
	return info, nil
}

func dbInfo(id ID, r *threadspb.GetDBInfoReply) (DBInfo, error) {
	key, err := threads.KeyFromBytes(r.GetKey())
	if err != nil {
		return DBInfo{}, errors.Errorf("", errors.Internal, "server sent a malformed thread key: %s", errors.Message(err))
	}
	info := DBInfo{ID: id, Name: r.GetName(), Key: key}
	for _, a := range r.GetAddrs() {
		s, err := addrString(a)
		if err != nil {
			return DBInfo{}, errors.Errorf("", errors.Internal, "server sent a DB address that is not a multiaddr (0x%s): %v", hexClip(a), err)
		}
		info.Addrs = append(info.Addrs, s)
	}
	return info, nil
}

// DeleteDB deletes one of the caller's DBs and everything in it.
func (c *Client) DeleteDB(ctx context.Context, id ID) error {
	const op errors.Op = "threadsclient.DeleteDB"
	if _, err := c.c.DeleteDB(ctx, &threadspb.DeleteDBRequest{DbID: id.Bytes()}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// NewCollection adds a collection to a DB. It fails with Exist if the name
// is taken and Invalid for a bad name, schema, index or function.
func (c *Client) NewCollection(ctx context.Context, db ID, cc CollectionConfig) error {
	const op errors.Op = "threadsclient.NewCollection"
	if _, err := c.c.NewCollection(ctx, &threadspb.NewCollectionRequest{DbID: db.Bytes(), Config: configToPB(cc)}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// UpdateCollection replaces the config of the collection cc.Name; new
// indexes are built over the existing instances.
func (c *Client) UpdateCollection(ctx context.Context, db ID, cc CollectionConfig) error {
	const op errors.Op = "threadsclient.UpdateCollection"
	if _, err := c.c.UpdateCollection(ctx, &threadspb.UpdateCollectionRequest{DbID: db.Bytes(), Config: configToPB(cc)}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// DeleteCollection deletes a collection and its instances.
func (c *Client) DeleteCollection(ctx context.Context, db ID, name string) error {
	const op errors.Op = "threadsclient.DeleteCollection"
	if _, err := c.c.DeleteCollection(ctx, &threadspb.DeleteCollectionRequest{DbID: db.Bytes(), Name: name}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// GetCollectionInfo returns a collection's config.
func (c *Client) GetCollectionInfo(ctx context.Context, db ID, name string) (CollectionConfig, error) {
	const op errors.Op = "threadsclient.GetCollectionInfo"
	r, err := c.c.GetCollectionInfo(ctx, &threadspb.GetCollectionInfoRequest{DbID: db.Bytes(), Name: name})
	if err != nil {
		return CollectionConfig{}, rpcerr.FromStatus(op, err)
	}
	return configFromPB(r), nil
}

// GetCollectionIndexes returns a collection's indexes.
func (c *Client) GetCollectionIndexes(ctx context.Context, db ID, name string) ([]Index, error) {
	const op errors.Op = "threadsclient.GetCollectionIndexes"
	r, err := c.c.GetCollectionIndexes(ctx, &threadspb.GetCollectionIndexesRequest{DbID: db.Bytes(), Name: name})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	return indexesFromPB(r.GetIndexes()), nil
}

// ListCollections returns the configs of a DB's collections.
func (c *Client) ListCollections(ctx context.Context, db ID) ([]CollectionConfig, error) {
	const op errors.Op = "threadsclient.ListCollections"
	r, err := c.c.ListCollections(ctx, &threadspb.ListCollectionsRequest{DbID: db.Bytes()})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	out := make([]CollectionConfig, 0, len(r.GetCollections()))
	for _, cc := range r.GetCollections() {
		out = append(out, configFromPB(cc))
	}
	return out, nil
}

// Create adds instances (JSON objects) to a collection, all or none, and
// returns their _ids; an instance without an _id is given one. It fails
// with Exist for an _id that is taken, Invalid for an instance the schema
// refuses, and NotExist for an unknown DB or collection.
func (c *Client) Create(ctx context.Context, db ID, collection string, instances ...json.RawMessage) ([]string, error) {
	const op errors.Op = "threadsclient.Create"
	r, err := c.c.Create(ctx, &threadspb.CreateRequest{DbID: db.Bytes(), CollectionName: collection, Instances: rawList(instances)})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	if err := txnError(op, r.GetTransactionError()); err != nil {
		return nil, err
	}
	return r.GetInstanceIDs(), nil
}

// Save replaces existing instances, identified by their _id, all or none.
func (c *Client) Save(ctx context.Context, db ID, collection string, instances ...json.RawMessage) error {
	const op errors.Op = "threadsclient.Save"
	r, err := c.c.Save(ctx, &threadspb.SaveRequest{DbID: db.Bytes(), CollectionName: collection, Instances: rawList(instances)})
	if err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return txnError(op, r.GetTransactionError())
}

// Delete removes instances by _id, all or none; each must exist.
func (c *Client) Delete(ctx context.Context, db ID, collection string, ids ...string) error {
	const op errors.Op = "threadsclient.Delete"
	r, err := c.c.Delete(ctx, &threadspb.DeleteRequest{DbID: db.Bytes(), CollectionName: collection, InstanceIDs: ids})
	if err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return txnError(op, r.GetTransactionError())
}

// Has reports whether every one of ids exists (and is visible to the
// caller through the collection's read filter).
func (c *Client) Has(ctx context.Context, db ID, collection string, ids ...string) (bool, error) {
	const op errors.Op = "threadsclient.Has"
	r, err := c.c.Has(ctx, &threadspb.HasRequest{DbID: db.Bytes(), CollectionName: collection, InstanceIDs: ids})
	if err != nil {
		return false, rpcerr.FromStatus(op, err)
	}
	if err := txnError(op, r.GetTransactionError()); err != nil {
		return false, err
	}
	return r.GetExists(), nil
}

// Find returns the instances that match q (nil matches all), in the
// query's order.
func (c *Client) Find(ctx context.Context, db ID, collection string, q *query.Query) ([]json.RawMessage, error) {
	const op errors.Op = "threadsclient.Find"
	b, err := marshalQuery(op, q)
	if err != nil {
		return nil, err
	}
	return c.find(ctx, op, db, collection, b)
}

// FindJSON is Find with the query in its wire form (queryJSON), as the
// JavaScript client builds it; the server checks it.
func (c *Client) FindJSON(ctx context.Context, db ID, collection string, queryJSON []byte) ([]json.RawMessage, error) {
	const op errors.Op = "threadsclient.FindJSON"
	return c.find(ctx, op, db, collection, queryJSON)
}

func (c *Client) find(ctx context.Context, op errors.Op, db ID, collection string, q []byte) ([]json.RawMessage, error) {
	r, err := c.c.Find(ctx, &threadspb.FindRequest{DbID: db.Bytes(), CollectionName: collection, QueryJSON: q})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	if err := txnError(op, r.GetTransactionError()); err != nil {
		return nil, err
	}
	return instanceList(r.GetInstances()), nil
}

// FindByID returns one instance; NotExist when there is none with that
// _id.
func (c *Client) FindByID(ctx context.Context, db ID, collection, id string) (json.RawMessage, error) {
	const op errors.Op = "threadsclient.FindByID"
	r, err := c.c.FindByID(ctx, &threadspb.FindByIDRequest{DbID: db.Bytes(), CollectionName: collection, InstanceID: id})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	if err := txnError(op, r.GetTransactionError()); err != nil {
		return nil, err
	}
	return json.RawMessage(r.GetInstance()), nil
}

// Verify checks instances as Save would, without writing them.
func (c *Client) Verify(ctx context.Context, db ID, collection string, instances ...json.RawMessage) error {
	const op errors.Op = "threadsclient.Verify"
	r, err := c.c.Verify(ctx, &threadspb.VerifyRequest{DbID: db.Bytes(), CollectionName: collection, Instances: rawList(instances)})
	if err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return txnError(op, r.GetTransactionError())
}

// txnError turns a reply's transactionError into an error. The wire
// carries only the server's message, not its kind, so the error's kind is
// Other; errors.Message gives the server's words.
func txnError(op errors.Op, msg string) error {
	if msg == "" {
		return nil
	}
	return errors.E(op, msg)
}

// marshalQuery checks q as the server would and gives its wire form; a
// nil q is the empty query.
func marshalQuery(op errors.Op, q *query.Query) ([]byte, error) {
	if q == nil {
		return []byte("{}"), nil
	}
	if err := q.Validate(); err != nil {
		return nil, errors.E(op, err)
	}
	b, err := q.MarshalJSON()
	if err != nil {
		return nil, errors.E(op, errors.Invalid, err)
	}
	return b, nil
}

func rawList(in []json.RawMessage) [][]byte {
	out := make([][]byte, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

func instanceList(in [][]byte) []json.RawMessage {
	out := make([]json.RawMessage, len(in))
	for i, b := range in {
		out[i] = b
	}
	return out
}

func configToPB(c CollectionConfig) *threadspb.CollectionConfig {
	out := &threadspb.CollectionConfig{Name: c.Name, Schema: c.Schema, WriteValidator: c.WriteValidator, ReadFilter: c.ReadFilter}
	for _, ix := range c.Indexes {
		out.Indexes = append(out.Indexes, &threadspb.Index{Path: ix.Path, Unique: ix.Unique})
	}
	return out
}

func configFromPB(r *threadspb.GetCollectionInfoReply) CollectionConfig {
	return CollectionConfig{
		Name:           r.GetName(),
		Schema:         json.RawMessage(r.GetSchema()),
		Indexes:        indexesFromPB(r.GetIndexes()),
		WriteValidator: r.GetWriteValidator(),
		ReadFilter:     r.GetReadFilter(),
	}
}

func indexesFromPB(in []*threadspb.Index) []Index {
	out := make([]Index, 0, len(in))
	for _, ix := range in {
		out = append(out, Index{Path: ix.GetPath(), Unique: ix.GetUnique()})
	}
	return out
}
