// Package db is ThreadDB: a document database whose every write is an event
// in a thread (threads package), so it replicates and converges like the
// thread does. Collections have JSON Schemas, indexes (backfilled when
// added), JavaScript write validators and read filters; queries use the
// indexes; transactions are isolated; Listen never drops an event.
//
// State lives in the embedded store. One DB's writes are serialised by its
// write lock and each commits in one synced batch, with a journal entry
// from which its signed thread record is formed right after (journal.go):
// an acknowledged write survives a crash, a write in flight is whole or
// absent, and a write whose record a crash prevented gets it when the hub
// starts again (Manager.ResumeForming).
//
// A DB whose thread is access controlled keeps a list of identities and
// roles (admin, writer, reader) as records of the thread, and every
// replica refuses the records it does not allow; a revocation cuts the
// revoked writer's logs at the records the revoker holds, and records
// concurrent with it lose everywhere (acl.go gives the rules,
// docs/access-control.md explains them).
package db

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db/jsfunc"
	"github.com/selfhub/hub/threads/logstore"
)

// Defaults for Config.
const (
	DefaultMaxInstanceSize = 1 << 20
	DefaultMaxDBsPerOwner  = 100
	DefaultTxnTimeout      = time.Minute
	DefaultListenHistory   = 100000
	maxDBName              = 128
)

// Config holds the limits of a Manager.
type Config struct {
	// MaxInstanceSize caps an instance's JSON, in bytes.
	MaxInstanceSize int
	// MaxDBsPerOwner caps how many DBs one identity may own.
	MaxDBsPerOwner int
	// TxnTimeout bounds how long a write transaction may hold its DB.
	TxnTimeout time.Duration
	// ListenHistory is how many of a DB's latest changes are kept for
	// listeners to resume from.
	ListenHistory int
	// ListenCache is how many bytes of recent changes, decoded and
	// encoded, the hub's listeners share; 0 means DefaultListenCache.
	ListenCache int
	// Count is told how many instances a principal read and wrote, for
	// usage metering (metering.Meter.CountInstances); nil counts nothing.
	// It is called on the caller's path and must not block.
	Count func(p hub.Principal, reads, writes int64)
	// Scripts bounds write validators and read filters: their time,
	// memory and stack, and how many run at once per tenant (the account
	// that owns the DB) and in all.
	Scripts jsfunc.Limits
	// Schemas bounds collection schemas and the work of checking writes
	// against them; zero fields take their defaults.
	Schemas SchemaLimits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Info describes a DB.
type Info struct {
	ID        threads.ID
	Name      string
	Key       threads.Key
	Owner     hub.PubKey
	Account   hub.PubKey
	CreatedAt time.Time
}

// Manager holds every DB of a hub.
type Manager struct {
	cfg     Config
	scripts *jsfunc.Engine
	st      *store.Store
	threads *logstore.Store

	// changes are the changes listeners read lately (see Listen), and
	// listenReads counts the changes they read from the store.
	changes     *changeCache
	listenReads atomic.Uint64

	// mu guards dbs and serialises DB creation and deletion.
	mu  sync.Mutex
	dbs map[threads.ID]*DB

	// records is told when a DB's logs gain records (OnRecords).
	records atomic.Pointer[func(threads.ID)]
}

// NewManager returns a Manager over st, keeping threads in logs: the
// hub's one log store over st, which others (the blocks served to IPFS
// peers) read too.
func NewManager(cfg Config, st *store.Store, logs *logstore.Store) *Manager {
	if cfg.MaxInstanceSize == 0 {
		cfg.MaxInstanceSize = DefaultMaxInstanceSize
	}
	if cfg.MaxDBsPerOwner == 0 {
		cfg.MaxDBsPerOwner = DefaultMaxDBsPerOwner
	}
	if cfg.TxnTimeout == 0 {
		cfg.TxnTimeout = DefaultTxnTimeout
	}
	if cfg.ListenHistory == 0 {
		cfg.ListenHistory = DefaultListenHistory
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ListenCache <= 0 {
		cfg.ListenCache = DefaultListenCache
	}
	return &Manager{cfg: cfg, scripts: jsfunc.NewEngine(cfg.Scripts), changes: newChangeCache(cfg.ListenCache), st: st, threads: logs, dbs: map[threads.ID]*DB{}}
}

// NewDB creates a DB for the principal: a thread with id (made by the
// client, as the JS client does) and key (a fresh one when nil), with the
// given collections. Names are unique per owner; the number of DBs per
// owner is capped (Exhausted).
//
// An access-controlled ID (threads.AccessControlled) names the key of the
// DB's root log, which this hub does not hold: such a DB is one joined
// from another peer, whose records bring its access control list.
// NewACLDB makes a new one.
func (m *Manager) NewDB(ctx context.Context, p hub.Principal, id threads.ID, name string, key *threads.Key, cols []CollectionConfig) (Info, error) {
	return m.create(ctx, "db.NewDB", p, id, name, key, cols, nil)
}

// create makes a DB, for NewDB and NewACLDB: root is the root log key of
// an access-controlled DB made here, nil otherwise.
func (m *Manager) create(ctx context.Context, op errors.Op, p hub.Principal, id threads.ID, name string, key *threads.Key, cols []CollectionConfig, root crypto.PrivKey) (Info, error) {
	owner, sc := p.Owner(), scope(p)
	if owner == "" {
		return Info{}, errors.E(op, errors.Unauthenticated, "creating a DB needs an identity")
	}
	if err := id.Validate(); err != nil {
		return Info{}, errors.E(op, errors.Invalid, err)
	}
	if len(name) > maxDBName {
		return Info{}, errors.Errorf(op, errors.Invalid, "DB name is longer than %d characters", maxDBName)
	}
	k := threads.Key{}
	if key != nil {
		k = *key
	} else {
		var err error
		if k, err = threads.NewKey(); err != nil {
			return Info{}, errors.E(op, err)
		}
	}
	if !k.CanRead() {
		return Info{}, errors.E(op, errors.Invalid, "a hosted DB needs the full thread key (service and read keys)")
	}
	compiled := make([]*collection, len(cols))
	for i, c := range cols {
		var err error
		if compiled[i], err = m.compile(op, c, tenant(p.Account, owner), false); err != nil {
			return Info{}, err
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.threads.Thread(id); err == nil {
		return Info{}, errors.Errorf(op, errors.Exist, "DB %s already exists", id)
	} else if !errors.Is(errors.NotExist, err) {
		return Info{}, errors.E(op, err)
	}
	if name != "" {
		if taken, err := m.st.Has(nameKey(sc, name)); err != nil {
			return Info{}, errors.E(op, err)
		} else if taken {
			return Info{}, errors.Errorf(op, errors.Exist, "you already have a DB named %q", name)
		}
	}
	n := 0
	if err := m.st.Scan(ownerPrefix(sc), func(_, _ []byte) error { n++; return nil }); err != nil {
		return Info{}, errors.E(op, err)
	}
	if n >= m.cfg.MaxDBsPerOwner {
		return Info{}, errors.Errorf(op, errors.Exhausted, "you own %d DBs, the limit of this hub; delete one first", n)
	}
	now := m.cfg.Now()
	info := Info{ID: id, Name: name, Key: k, Owner: owner, Account: p.Account, CreatedAt: now}
	b := m.st.NewBatch()
	if err := m.threads.CreateThread(b, logstore.Info{ID: id, Key: k, Name: name, CreatedAt: now}); err != nil {
		return Info{}, errors.E(op, err)
	}
	b.Put(metaKey(dbPrefix(id)), dbRecord{ID: id.String(), Name: name, Owner: owner, Account: p.Account, CreatedAt: now})
	if name != "" {
		b.Put(nameKey(sc, name), id.String())
	}
	b.Put(ownerKey(sc, id), struct{}{})
	d := m.newDB(info)
	var ops []operation
	if root != nil {
		// The owner writes with the root log, and says so first.
		raw, err := crypto.MarshalPrivateKey(root)
		if err != nil {
			return Info{}, errors.E(op, errors.Internal, err)
		}
		lid, err := peer.IDFromPrivateKey(root)
		if err != nil {
			return Info{}, errors.E(op, errors.Internal, err)
		}
		b.PutRaw(writerKey(d.pfx, owner), raw)
		d.writers[owner] = logWriter{key: root, id: lid.String()} // d is dropped if b fails
		if ops, err = genesis(owner, lid); err != nil {
			return Info{}, errors.E(op, err)
		}
	}
	// The collections are the DB's first event, so replicas get them.
	ops = append(ops, collectionOps(compiled, opCollSet)...)
	if len(ops) > 0 {
		if err := d.writeDurably(b, p, ops); err != nil {
			return Info{}, errors.E(op, err)
		}
	} else if err := b.Commit(); err != nil {
		return Info{}, errors.E(op, err)
	}
	if root != nil {
		// No one else reaches d yet: its write lock is as good as held.
		if err := d.enforceACL(ctx); err != nil {
			return Info{}, errors.E(op, err)
		}
	}
	m.dbs[id] = d
	return info, nil
}

// tenant names whose budget a DB's scripts draw on: the account that owns
// the DB (the developer or org, for its app users' DBs too), so that one
// account's scripts cannot crowd out another's however many users it has.
func tenant(account, owner hub.PubKey) string {
	if account != "" {
		return string(account)
	}
	return string(owner)
}

// tenant names the budget of the DB's scripts.
func (i Info) tenant() string { return tenant(i.Account, i.Owner) }

// scope is whose DBs a principal reaches: an identity within an account.
// A developer or org is its own account; an app's user reaches only the
// DBs it made through that app's keys, so one person using two apps
// (two developers' user group keys) keeps two separate sets of DBs. Keys
// do not enter into it: a replaced key keeps its users' DBs.
func scope(p hub.Principal) string { return string(p.Account) + "/" + string(p.Owner()) }

// principal is the principal that owns d, for scope.
func (d *DB) principal() hub.Principal {
	if d.info.Owner == d.info.Account {
		return hub.Principal{Kind: hub.DeveloperPrincipal, Account: d.info.Account}
	}
	return hub.Principal{Kind: hub.UserPrincipal, Account: d.info.Account, Identity: d.info.Owner}
}

// DB returns the principal's DB with id. A DB that exists but belongs to
// someone else is reported as not found, so DB IDs do not leak.
func (m *Manager) DB(ctx context.Context, p hub.Principal, id threads.ID) (*DB, error) {
	const op errors.Op = "db.DB"
	d, err := m.open(id)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if scope(d.principal()) != scope(p) && !d.member(p) {
		return nil, errors.Errorf(op, errors.NotExist, "DB %s not found among your DBs", id)
	}
	return d, nil
}

// own returns the principal's own DB with id, as DB does, but not to the
// other members of an access-controlled DB.
func (m *Manager) own(ctx context.Context, p hub.Principal, id threads.ID) (*DB, error) {
	const op errors.Op = "db.DB"
	d, err := m.open(id)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if scope(d.principal()) != scope(p) {
		return nil, errors.Errorf(op, errors.NotExist, "DB %s not found among your DBs", id)
	}
	return d, nil
}

// member reports whether principal p, who does not own d, reaches it: d
// is access controlled, p acts for the account d is billed to (another
// identity of the same app), and p's identity has a role in d's list.
// Writes are then checked against the role (mayWrite).
func (d *DB) member(p hub.Principal) bool {
	s := d.acl.Load()
	return s != nil && p.Account == d.info.Account && s.Members[p.Owner()].Role >= RoleReader
}

// open loads a DB by ID, whoever owns it.
func (m *Manager) open(id threads.ID) (*DB, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.dbs[id]; ok {
		return d, nil
	}
	var rec dbRecord
	if err := m.st.Get(metaKey(dbPrefix(id)), &rec); err != nil {
		if errors.Is(errors.NotExist, err) {
			return nil, errors.Errorf("", errors.NotExist, "DB %s not found", id)
		}
		return nil, err
	}
	ti, err := m.threads.Thread(id)
	if err != nil {
		return nil, err
	}
	d := m.newDB(Info{ID: id, Name: rec.Name, Key: ti.Key, Owner: rec.Owner, Account: rec.Account, CreatedAt: rec.CreatedAt})
	if err := d.load(); err != nil {
		return nil, err
	}
	m.dbs[id] = d
	return d, nil
}

// ListDBs lists the principal's own DBs.
func (m *Manager) ListDBs(ctx context.Context, p hub.Principal) ([]Info, error) {
	const op errors.Op = "db.ListDBs"
	var out []Info
	prefix := ownerPrefix(scope(p))
	err := m.st.Scan(prefix, func(k, _ []byte) error {
		id, err := threads.Decode(string(k[len(prefix):]))
		if err != nil {
			return err
		}
		d, err := m.open(id)
		if err != nil {
			return err
		}
		out = append(out, d.info)
		return nil
	})
	if err != nil {
		return nil, errors.E(op, err)
	}
	return out, nil
}

// DeleteDB deletes the principal's DB, its thread and all its records.
func (m *Manager) DeleteDB(ctx context.Context, p hub.Principal, id threads.ID) error {
	const op errors.Op = "db.DeleteDB"
	d, err := m.own(ctx, p, id)
	if err != nil {
		return err
	}
	if err := d.lock(ctx); err != nil {
		return errors.E(op, err)
	}
	defer d.unlock()
	d.former.lockLogs() // the former must not write records of a deleted thread
	defer d.former.unlockLogs()
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.st.NewBatch()
	if err := m.threads.DeleteThread(b, id); err != nil {
		return errors.E(op, err)
	}
	b.DeletePrefix(dbPrefix(id))
	sc := scope(d.principal())
	if d.info.Name != "" {
		b.Delete(nameKey(sc, d.info.Name))
	}
	b.Delete(ownerKey(sc, id))
	if err := b.Commit(); err != nil {
		return errors.E(op, err)
	}
	d.former.retire()
	delete(m.dbs, id)
	d.listeners.close(errors.Errorf(op, errors.NotExist, "DB %s was deleted", id))
	return nil
}

// StoredBytes is how many bytes of instances the principal's DBs hold.
func (m *Manager) StoredBytes(ctx context.Context, p hub.Principal) (int64, error) {
	const op errors.Op = "db.StoredBytes"
	infos, err := m.ListDBs(ctx, p)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, info := range infos {
		c, err := readCounters(m.st, dbPrefix(info.ID))
		if err != nil {
			return 0, errors.E(op, err)
		}
		total += c.bytes
	}
	return total, nil
}

// count tells cfg.Count, if any, of p's reads and writes.
func (m *Manager) count(p hub.Principal, reads, writes int64) {
	if m.cfg.Count != nil {
		m.cfg.Count(p, reads, writes)
	}
}
