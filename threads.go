package hub

import (
	"context"
	"encoding/json"
	"strconv"
)

// Threads is ThreadDB as one caller sees it: the hub's DBs bound to the
// principal a call acts as (ThreadServer), or the Go client, bound by its
// context's credentials (threadsclient's Client.Threads). Every
// implementation runs the conformance suite threads/db/threadstest.
//
// A caller reaches only its own DBs: another identity's DB is NotExist, as
// is one that does not exist, so DB IDs do not leak. Instances are JSON
// objects named by their "_id" field; a query is the JSON form of a
// threads/db/query Query (the wire's queryJSON), and an empty one matches
// every instance.
//
// Errors carry the kinds of package errors, whether they were made in
// process or mapped back from a gRPC status: Invalid for malformed input (an
// ID, a name, a collection config, a query, an instance the collection's
// schema or write validator refuses), NotExist for an unknown DB,
// collection or instance, Exist for a DB ID or name, collection name or
// instance _id already taken, Exhausted past one of the hub's limits,
// FailedPrecondition for a transaction that has ended or a Listen position
// older than the history the hub keeps, Unauthenticated without
// credentials. Inside a transaction the wire carries only an error's
// message, so the client's transaction errors are of kind Other.
type Threads interface {
	// NewDB creates a DB owned by the caller, with id (a fresh random one
	// when empty, as the JavaScript client makes it) and opts, and returns
	// its ID. The number of DBs one identity owns is capped (Exhausted).
	NewDB(ctx context.Context, id ThreadID, opts DBOptions) (ThreadID, error)
	// ListDBs lists the caller's DBs.
	ListDBs(ctx context.Context) ([]DBInfo, error)
	// GetDBInfo describes one of the caller's DBs.
	GetDBInfo(ctx context.Context, db ThreadID) (DBInfo, error)
	// DeleteDB deletes one of the caller's DBs and everything in it; its
	// listeners end with NotExist.
	DeleteDB(ctx context.Context, db ThreadID) error

	// NewCollection adds a collection to a DB.
	NewCollection(ctx context.Context, db ThreadID, c CollectionConfig) error
	// UpdateCollection replaces the config of the collection c.Name; new
	// indexes are built over the instances already there, and an instance
	// that breaks a new unique index refuses the update.
	UpdateCollection(ctx context.Context, db ThreadID, c CollectionConfig) error
	// DeleteCollection deletes a collection and its instances.
	DeleteCollection(ctx context.Context, db ThreadID, name string) error
	// GetCollectionInfo returns a collection's config.
	GetCollectionInfo(ctx context.Context, db ThreadID, name string) (CollectionConfig, error)
	// ListCollections returns the configs of a DB's collections.
	ListCollections(ctx context.Context, db ThreadID) ([]CollectionConfig, error)

	// Create, Save, Verify, Delete, Has, Find and FindByID each run in a
	// transaction of their own, with the meaning of the WriteTxn and
	// ReadTxn methods of the same names.
	Create(ctx context.Context, db ThreadID, collection string, instances []json.RawMessage) ([]string, error)
	Save(ctx context.Context, db ThreadID, collection string, instances []json.RawMessage) error
	Verify(ctx context.Context, db ThreadID, collection string, instances []json.RawMessage) error
	Delete(ctx context.Context, db ThreadID, collection string, ids []string) error
	Has(ctx context.Context, db ThreadID, collection string, ids []string) (bool, error)
	Find(ctx context.Context, db ThreadID, collection string, query []byte) ([]json.RawMessage, error)
	FindByID(ctx context.Context, db ThreadID, collection, id string) (json.RawMessage, error)

	// ReadTransaction begins a read transaction on a collection, and
	// WriteTransaction a write transaction, which holds the DB's write
	// lock until it ends (at most the hub's transaction time limit): other
	// writes to the DB wait for it. The transaction's calls run under
	// ctx. A remote implementation may report a refused start (an unknown
	// DB or collection) at the transaction's first call, or at its end,
	// and a read transaction's snapshot is fixed by the time its first
	// call answers (a remote begin sends its request without a reply).
	ReadTransaction(ctx context.Context, db ThreadID, collection string) (ReadTxn, error)
	WriteTransaction(ctx context.Context, db ThreadID, collection string) (WriteTxn, error)

	// Listen calls fn, in order, for each change to the DB that matches
	// any of filters (every change when there are none), until ctx ends
	// (Canceled or DeadlineExceeded), fn fails (its error), the DB is
	// deleted (NotExist) or the server ends the stream. With after 0 it
	// delivers the changes made once it has started; otherwise every change
	// after the one whose Seq is after, so a listener that stops resumes
	// without missing one. A position older than the kept history is
	// FailedPrecondition. Nothing is dropped: a slow fn falls behind. An
	// Action outside ActionAll to ActionDelete is Invalid.
	Listen(ctx context.Context, db ThreadID, filters []ListenFilter, after uint64, fn func(ListenEvent) error) error
}

// ThreadServer is ThreadDB as a hub hosts it, for every caller: Threads
// binds it to the principal a call acts as.
type ThreadServer interface {
	Threads(p Principal) Threads
}

// TxnReader is what both kinds of transaction read. A read transaction
// reads a snapshot of the collection taken when it began; a write
// transaction reads the committed state plus its own writes.
type TxnReader interface {
	// Has reports whether every one of ids exists (and is visible to the
	// caller through the collection's read filter).
	Has(ids []string) (bool, error)
	// Find returns the instances that match query, in its order, as the
	// caller may see them.
	Find(query []byte) ([]json.RawMessage, error)
	// FindByID returns one instance; NotExist when there is none with
	// that _id.
	FindByID(id string) (json.RawMessage, error)
}

// ReadTxn is a read transaction. Its calls may come from several
// goroutines and are answered one at a time; after End they fail with
// FailedPrecondition.
type ReadTxn interface {
	TxnReader
	// End ends the transaction and releases its snapshot.
	End() error
}

// WriteTxn is a write transaction: its writes become visible to others
// all together when Commit succeeds, or never. Its calls may come from
// several goroutines and are answered one at a time; once it has ended
// (Commit, Discard, or the hub's time limit) they fail with
// FailedPrecondition.
type WriteTxn interface {
	TxnReader
	// Create adds instances, all or none, and returns their _ids; an
	// instance without an _id is given one. A taken _id is Exist.
	Create(instances []json.RawMessage) ([]string, error)
	// Save replaces existing instances, named by their _id, all or none.
	Save(instances []json.RawMessage) error
	// Verify checks instances as Save would, without writing them.
	Verify(instances []json.RawMessage) error
	// Delete removes instances by _id, all or none; each must exist.
	Delete(ids []string) error
	// Commit writes the transaction's writes as one change, durably, and
	// ends it.
	Commit() error
	// Discard ends the transaction, writing nothing. On a transaction that
	// has already ended it does nothing, so it can be deferred.
	Discard() error
}

// DBOptions are NewDB's options.
type DBOptions struct {
	// Name names the DB; names are unique among the caller's DBs.
	Name string
	// Collections are created with the DB, as its first change.
	Collections []CollectionConfig
	// Key is the thread key in its binary form (a service key, then a read
	// key, 32 bytes each; package threads reads it); empty asks for a
	// fresh one. A hosted DB needs both keys.
	Key []byte
}

// DBInfo describes a DB.
type DBInfo struct {
	ID   ThreadID
	Name string
	// Key is the thread key in its binary form, which reads and writes the
	// DB's records.
	Key []byte
}

// CollectionConfig describes a collection: its name, the JSON Schema its
// instances must satisfy, its indexes, and optional JavaScript function
// bodies that validate writes and filter reads.
type CollectionConfig struct {
	// Name matches ^[A-Za-z0-9]+(?:[-][A-Za-z0-9]+)*$.
	Name string
	// Schema is a JSON Schema (drafts 4 to 2020-12); nil accepts any object.
	Schema json.RawMessage
	// Indexes are the field paths to index, such as "meta.rating".
	Indexes []Index
	// WriteValidator is the body of a function (writer, event, instance)
	// that returns whether a write is allowed; "" allows every write.
	WriteValidator string
	// ReadFilter is the body of a function (reader, instance) that returns
	// the instance as the reader may see it, or null to hide it; "" shows
	// every instance as stored.
	ReadFilter string
}

// Index is an index on a dot-separated field path. A unique index refuses
// a second instance with the same value at the path.
type Index struct {
	Path   string
	Unique bool
}

// Action is what a change did to an instance. In a ListenFilter, ActionAll
// (the zero value) selects every action. The values are the wire's filter
// actions.
type Action int

// The actions.
const (
	ActionAll    Action = iota // filters only: any action
	ActionCreate               // the instance was created
	ActionSave                 // the instance was replaced
	ActionDelete               // the instance was deleted
)

// String returns the action's wire name, such as "CREATE".
func (a Action) String() string {
	switch a {
	case ActionAll:
		return "ALL"
	case ActionCreate:
		return "CREATE"
	case ActionSave:
		return "SAVE"
	case ActionDelete:
		return "DELETE"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// ListenFilter selects changes: those to Collection (any when empty), to
// the instance InstanceID (any when empty), with Action (any when
// ActionAll).
type ListenFilter struct {
	Collection string
	InstanceID string
	Action     Action
}

// ListenEvent is one change Listen delivers.
type ListenEvent struct {
	// Seq is the change's position in the DB's listen log: pass it as
	// Listen's after to resume right after this change.
	Seq        uint64
	Collection string
	InstanceID string
	Action     Action // ActionCreate, ActionSave or ActionDelete
	// Instance is the instance as written, as the caller may see it
	// through the collection's read filter; nil for a delete.
	Instance json.RawMessage
	// Encode, when set, returns enc(the event), made once for every
	// listener that receives the change as written: a hub sets it so that
	// a change fanned out to many listeners is encoded for the wire once.
	// enc must give the event's wire form, the same whoever calls it, and
	// the caller must not change the bytes. Nil when the event is this
	// listener's own (a read filter rewrote it): call enc directly.
	Encode func(enc func(ListenEvent) ([]byte, error)) ([]byte, error)
}

// ThreadAccessServer is the optional ability of a ThreadServer to keep
// access-controlled DBs: DBs with a list of identities and roles that
// every replica enforces (docs/access-control.md). ThreadAccess binds it
// to the principal a call acts as.
type ThreadAccessServer interface {
	ThreadAccess(p Principal) ThreadAccess
}

// ThreadAccess manages the access control lists of DBs. The roles are
// "admin", "writer", "reader" and "none". Other identities of the app
// that owns an access-controlled DB (the same account) reach it through
// Threads once they have a role: readers read, writers also write.
type ThreadAccess interface {
	// NewACLDB creates an access-controlled DB owned by the caller, who
	// is its admin for good, and returns its ID; opts are as for NewDB.
	NewACLDB(ctx context.Context, opts DBOptions) (ThreadID, error)
	// ACL lists the members of DB db by identity; FailedPrecondition for
	// a DB that is not access controlled.
	ACL(ctx context.Context, db ThreadID) ([]ACLMember, error)
	// Grant gives identity role in DB db. A role that writes is granted
	// with logs (peer IDs of the logs it writes with), or when there are
	// none with a log this hub makes: the identity then writes through
	// this hub. Only the owner and admins grant, only the owner grants
	// or takes away admin (Permission); an unknown role or a malformed
	// identity or log is Invalid.
	Grant(ctx context.Context, db ThreadID, identity PubKey, role string, logs []string) error
	// Revoke takes every role away from identity in DB db: its logs are
	// cut at the records this hub holds of them, and its later records
	// are refused by every replica.
	Revoke(ctx context.Context, db ThreadID, identity PubKey) error
}

// ACLMember is one identity of a DB's access control list.
type ACLMember struct {
	Identity PubKey
	Role     string
	Logs     []ACLLog
}

// ACLLog is a log a member was granted to write with.
type ACLLog struct {
	ID      string // the log's peer ID
	Role    string // the role it was granted with
	Revoked bool   // cut by a revocation
	Cut     int64  // records kept when Revoked
}
