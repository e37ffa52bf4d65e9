package db

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// DB is one thread's database.
type DB struct {
	m    *Manager
	id   threads.ID
	info Info
	pfx  []byte // dbPrefix(id): every key of the DB starts with it

	// sem is the write lock: one write transaction (or ingest) at a time.
	// A channel, so waiting for it respects a context.
	sem chan struct{}
	// clock is the last hybrid logical clock value used or seen; guarded
	// by sem.
	clock int64
	// seq and bytes are the stored counters as of the last
	// commit, kept so that writes need not read them; guarded by sem.
	seq   uint64
	bytes int64

	// acl is the access control list of an access-controlled DB, nil for
	// one that is not (acl.go). A list is never changed once stored here:
	// a new one replaces it, under sem, so readers need no lock.
	acl atomic.Pointer[aclState]

	// former turns the journal entries of committed writes into records
	// (former.go); whoever also holds its log lock takes sem first.
	former *former

	// writersMu guards writers, the log keys of the identities that
	// write here.
	writersMu sync.Mutex
	writers   map[hub.PubKey]logWriter

	// colsMu guards cols.
	colsMu sync.RWMutex
	// cols are the visible collections, compiled.
	cols map[string]*collection

	listeners *broadcaster
	// readMu is held by a listener reading changes from the store into
	// the change cache (see change).
	readMu sync.Mutex
}

func (m *Manager) newDB(info Info) *DB {
	d := &DB{m: m, id: info.ID, info: info, pfx: dbPrefix(info.ID), sem: make(chan struct{}, 1), writers: map[hub.PubKey]logWriter{}, cols: map[string]*collection{}, listeners: newBroadcaster(0)}
	d.former = newFormer(m.st, m.threads, d.id, d.pfx, func(who hub.PubKey) (logWriter, error) {
		return d.writer(nil, who) // stored with the identity's first entry
	}, func() { m.announce(info.ID) })
	if root, err := threads.RootLog(info.ID); err == nil {
		d.acl.Store(newACLState(root))
	}
	return d
}

// trimListenLog deletes the changes older than the newest ListenHistory.
// Writes retire one change each; only a smaller ListenHistory than the
// last run's leaves older ones, and only then is a deletion written.
func (d *DB) trimListenLog() error {
	keep := uint64(d.m.cfg.ListenHistory)
	if d.seq <= keep {
		return nil
	}
	first := chgKey(d.pfx, 0)
	end := chgKey(d.pfx, d.seq-keep+1)
	if old, err := d.m.st.AnyInRange(first, end); err != nil || !old {
		return err
	}
	b := d.m.st.NewBatch()
	b.DeleteRange(first, end)
	return b.ApplyNoSync()
}

// logWriter is an identity's log in the DB's thread: its key and ID.
type logWriter struct {
	key crypto.PrivKey
	id  string // the log's peer ID, which breaks clock ties (version.Log)
}

// Info describes the DB.
func (d *DB) Info() Info { return d.info }

// load reads the clock, the listen log's end (all of it on disk by now)
// and the journal, trims the listen log to ListenHistory, and compiles
// the visible collections.
func (d *DB) load() error {
	c, err := readCounters(d.m.st, d.pfx)
	if err != nil {
		return err
	}
	d.seq, d.clock, d.bytes = c.seq, c.clock, c.bytes
	d.listeners = newBroadcaster(d.seq)
	if err := d.trimListenLog(); err != nil {
		return err
	}
	if err := d.reloadCollections(); err != nil {
		return err
	}
	if err := d.former.load(); err != nil {
		return err
	}
	return d.loadACL()
}

// reloadCollections recompiles the visible collections from the store.
func (d *DB) reloadCollections() error {
	const op errors.Op = "db.load"
	cols := map[string]*collection{}
	err := store.ScanJSON(d.m.st, colPrefix(d.pfx), func(_ []byte, c *colRecord) error {
		if c.Deleted {
			return nil
		}
		compiled, err := d.m.compile(op, c.Config, d.info.tenant(), true)
		if err != nil {
			return err
		}
		compiled.record = *c
		cols[c.Config.Name] = compiled
		return nil
	})
	if err != nil {
		return err
	}
	d.colsMu.Lock()
	d.cols = cols
	d.colsMu.Unlock()
	return nil
}

// lock takes the write lock, or fails when ctx ends first.
func (d *DB) lock(ctx context.Context) error {
	const op errors.Op = "db.lock"
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errors.E(op, errors.DeadlineExceeded, "timed out waiting for another write transaction on this DB")
	}
}

func (d *DB) unlock() { <-d.sem }

// tick advances the clock for a local event: wall time, or one more than
// the last value when the wall clock has not moved past it.
func (d *DB) tick() int64 {
	now := d.m.cfg.Now().UnixNano()
	if now <= d.clock {
		now = d.clock + 1
	}
	d.clock = now
	return now
}

// collection returns a visible collection.
func (d *DB) collection(op errors.Op, name string) (*collection, error) {
	d.colsMu.RLock()
	c, ok := d.cols[name]
	d.colsMu.RUnlock()
	if !ok {
		return nil, errors.Errorf(op, errors.NotExist, "collection %q not found in this DB", errors.Clip(name))
	}
	return c, nil
}

// writer returns the log the identity writes to in this DB: each identity
// writes to its own. A log key is made on first use and put into b, to be
// stored with the write; with a nil b the key must be stored already.
func (d *DB) writer(b *store.Batch, who hub.PubKey) (logWriter, error) {
	d.writersMu.Lock()
	defer d.writersMu.Unlock()
	if w, ok := d.writers[who]; ok {
		return w, nil
	}
	raw, err := d.m.st.GetRaw(writerKey(d.pfx, who))
	stored := err == nil
	var key crypto.PrivKey
	switch {
	case stored:
		if key, err = crypto.UnmarshalPrivateKey(raw); err != nil {
			return logWriter{}, errors.Errorf("", errors.Internal, "stored log key of %s: %v", who, err)
		}
	case !errors.Is(errors.NotExist, err):
		return logWriter{}, err
	case b == nil:
		return logWriter{}, errors.Errorf("", errors.Internal, "no log key is stored for %s", who)
	default:
		if key, err = identity.New(); err != nil {
			return logWriter{}, err
		}
		if raw, err = crypto.MarshalPrivateKey(key); err != nil {
			return logWriter{}, errors.E(errors.Internal, err)
		}
	}
	lid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return logWriter{}, errors.E(errors.Internal, err)
	}
	w := logWriter{key: key, id: lid.String()}
	if !stored {
		// Not cached: it is stored only if b commits. The next write
		// finds it in the store and caches it.
		b.PutRaw(writerKey(d.pfx, who), raw)
		return w, nil
	}
	d.writers[who] = w
	return w, nil
}

// stage applies ops to the DB's state in b as one event on the
// principal's log, and journals the event for its record (journal.go),
// under the write lock the caller holds (or, for a new DB, before anyone
// else can reach it). Nothing is visible until the batch is committed with
// commit.
//
// known holds what the caller already read and decoded under the lock,
// sparing the applier the work.
func (d *DB) stage(b *store.Batch, p hub.Principal, ops []operation, known hints) (*applier, error) {
	w, err := d.writer(b, p.Owner())
	if err != nil {
		return nil, err
	}
	if err := d.mayWrite(p.Owner(), w.id, ops); err != nil {
		return nil, err
	}
	ev := eventBody{Time: d.tick(), Ops: ops}
	entry := d.former.append(b, p.Owner(), d.m.cfg.Now(), ev.encode())
	a, err := d.stageEvent(b, ev, w.id, known)
	if err != nil {
		return nil, err
	}
	a.entry = entry
	return a, nil
}

// stageEvent applies an event written by log to the DB's state in b.
func (d *DB) stageEvent(b *store.Batch, ev eventBody, log string, known hints) (*applier, error) {
	a := d.newApplier(b)
	for k, rec := range known.records {
		a.docs[k] = rec
	}
	for name, c := range known.cols {
		a.cols[name] = c
	}
	a.decoded, a.local = known.docs, known.local
	if err := a.apply(ev, log); err != nil {
		return nil, err
	}
	if err := a.finish(); err != nil {
		return nil, err
	}
	return a, nil
}

// commit applies b, which holds the staged events of one or more DBs, so
// that all of them become visible together, and refreshes the compiled
// collections that changed. The returned function waits until the batch
// is durable and then wakes the DBs' listeners and formers: an event is
// never delivered, nor its record formed, before it is on disk. Callers may release their write locks
// before waiting, so that the next transaction's sync overlaps this one's
// (group commit), but must wait before they acknowledge the write.
func commit(b *store.Batch, staged ...*applier) (durable func() error, err error) {
	wait, err := b.Apply()
	if err != nil {
		return nil, err
	}
	for _, a := range staged {
		a.d.seq, a.d.bytes = a.seq, a.d.bytes+a.bytes
		if len(a.rebuild) > 0 {
			if err := a.d.reloadCollections(); err != nil {
				wait()
				return nil, err
			}
		}
	}
	return func() error {
		if err := wait(); err != nil {
			return err
		}
		for _, a := range staged {
			if len(a.changes) > 0 {
				a.d.listeners.wake(a.seq)
			}
			if a.entry != 0 {
				a.d.former.kick(a.entry)
			}
		}
		return nil
	}, nil
}

// writeDurably stages ops, commits and waits, for callers that keep the
// lock until the write is durable.
func (d *DB) writeDurably(b *store.Batch, p hub.Principal, ops []operation) error {
	a, err := d.stage(b, p, ops, hints{})
	if err != nil {
		return err
	}
	durable, err := commit(b, a)
	if err != nil {
		return err
	}
	return durable()
}

// Ingest applies a record that another peer wrote to this DB's thread:
// verified by the thread store, then applied like a local write. Records
// may arrive in any order across logs; the state converges. A record the
// DB holds already is refused with Exist; IngestBatch's refusals apply.
func (d *DB) Ingest(ctx context.Context, blocks []threads.Block) error {
	const op errors.Op = "db.Ingest"
	n, err := d.IngestBatch(ctx, [][]threads.Block{blocks})
	if err == nil && n == 0 {
		err = errors.Errorf(op, errors.Exist, "the DB holds this record already")
	}
	return err
}

// IngestBatch applies records that other peers wrote to this DB's thread,
// in order, in one commit that is durable when it returns: a peer catching
// up pays one sync per batch, not one per record. It returns how many
// records it applied; records the DB holds already are skipped. A record
// an access-controlled DB's list does not allow is not stored and the
// others are still applied; the first such refusal (FailedPrecondition,
// caused by an *ACLRefusal) is returned. At the first record the thread
// store refuses otherwise (Invalid or Permission when it does not verify,
// FailedPrecondition when the record before it in its log is missing or
// the log forked) it stops and applies those before it, and returns that
// refusal unless an ACL refusal came first. A verified record that holds
// no DB event is Invalid, and then nothing of its commit is applied.
//
// A record that holds ACL operations ends its commit: the list is read
// again (enforceACL) before the records after it are admitted, so that a
// writer granted early in a batch has its records of the same batch kept.
func (d *DB) IngestBatch(ctx context.Context, records [][]threads.Block) (int, error) {
	const op errors.Op = "db.IngestBatch"
	if err := d.lock(ctx); err != nil {
		return 0, err
	}
	defer d.unlock()
	applied := 0
	var refused error
	for len(records) > 0 {
		r := d.ingest(records)
		records = records[r.used:]
		if r.durable != nil {
			if err := r.durable(); err != nil {
				return applied, errors.E(op, err)
			}
			applied += r.applied
			d.m.announce(d.id)
		}
		if r.acl {
			if err := d.enforceACL(ctx); err != nil {
				return applied, errors.E(op, err)
			}
		}
		if refused == nil {
			refused = r.refusedACL
		}
		if r.stop != nil {
			if refused == nil {
				refused = r.stop
			}
			break
		}
	}
	if refused != nil {
		return applied, errors.E(op, refused)
	}
	return applied, nil
}

// ingestion is what one commit of IngestBatch went through.
type ingestion struct {
	used       int          // records of the batch gone through
	applied    int          // records applied
	durable    func() error // the wait for their durability; nil when none were
	acl        bool         // they hold ACL operations: read the list again
	refusedACL error        // the first record the list refused
	stop       error        // the refusal or failure it stopped at
}

// ingest verifies, stages and applies records under the write lock and
// the former's log lock, up to and including the first that holds ACL
// operations of an access-controlled DB, in one commit. Records the list
// refuses are skipped before anything of them is staged.
func (d *DB) ingest(records [][]threads.Block) (r ingestion) {
	d.former.lockLogs()
	defer d.former.unlockLogs()
	fail := func(err error) ingestion {
		return ingestion{used: r.used, refusedACL: r.refusedACL, stop: err}
	}
	b := d.m.st.NewBatch()
	a := d.newApplier(b)
	for _, blocks := range records {
		r.used++
		rec, ev, err := d.m.threads.IngestAdmitted(b, d.id, blocks, d.refuseRecord)
		if errors.Is(errors.Exist, err) {
			continue
		}
		var acl *ACLRefusal
		if stderrors.As(err, &acl) {
			if r.refusedACL == nil {
				r.refusedACL = err
			}
			continue // the thread store left b as it was
		}
		if err != nil {
			r.stop = err // the thread store left b as it was
			break
		}
		// From here a failure leaves the record half staged in b, which
		// is then dropped whole.
		var body eventBody
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			return fail(errors.Errorf("", errors.Invalid, "record %s holds no DB event: %v", rec.Cid, err))
		}
		if body.Time > d.clock {
			d.clock = body.Time
		}
		if err := a.apply(body, rec.LogID.String()); err != nil {
			return fail(err)
		}
		r.applied++
		if a.acl && d.acl.Load() != nil {
			r.acl = true
			break
		}
	}
	if r.applied == 0 {
		return r
	}
	if r.acl {
		// Read again once stored, and after a crash if need be.
		b.PutRaw(aclStaleKey(d.pfx), nil)
	}
	if err := a.finish(); err != nil {
		return fail(err)
	}
	durable, err := commit(b, a)
	if err != nil {
		return fail(err)
	}
	r.durable = durable
	return r
}

// collectionOps turns compiled collections into collection ops.
func collectionOps(cols []*collection, kind opKind) []operation {
	ops := make([]operation, len(cols))
	for i, c := range cols {
		raw, _ := json.Marshal(c.config)
		ops[i] = operation{Kind: kind, Col: c.config.Name, Value: raw}
	}
	return ops
}

// NewCollection adds a collection.
func (d *DB) NewCollection(ctx context.Context, p hub.Principal, cfg CollectionConfig) error {
	const op errors.Op = "db.NewCollection"
	return d.setCollection(ctx, op, p, cfg, false)
}

// UpdateCollection replaces a collection's config; new indexes are
// backfilled from the existing instances.
func (d *DB) UpdateCollection(ctx context.Context, p hub.Principal, cfg CollectionConfig) error {
	const op errors.Op = "db.UpdateCollection"
	return d.setCollection(ctx, op, p, cfg, true)
}

func (d *DB) setCollection(ctx context.Context, op errors.Op, p hub.Principal, cfg CollectionConfig, update bool) error {
	c, err := d.m.compile(op, cfg, d.info.tenant(), false)
	if err != nil {
		return err
	}
	if err := d.lock(ctx); err != nil {
		return err
	}
	defer d.unlock()
	_, err = d.collection(op, cfg.Name)
	switch {
	case update && err != nil:
		return err
	case !update && err == nil:
		return errors.Errorf(op, errors.Exist, "collection %q already exists; use UpdateCollection to change it", cfg.Name)
	}
	if update {
		// A unique index added to a collection must hold for the
		// instances it already has.
		if err := d.checkUnique(op, c); err != nil {
			return err
		}
	}
	if err := d.writeDurably(d.m.st.NewBatch(), p, collectionOps([]*collection{c}, opCollSet)); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// DeleteCollection deletes a collection and hides its instances.
func (d *DB) DeleteCollection(ctx context.Context, p hub.Principal, name string) error {
	const op errors.Op = "db.DeleteCollection"
	if err := d.lock(ctx); err != nil {
		return err
	}
	defer d.unlock()
	c, err := d.collection(op, name)
	if err != nil {
		return err
	}
	if err := d.writeDurably(d.m.st.NewBatch(), p, collectionOps([]*collection{c}, opCollClear)); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// CollectionInfo returns a collection's config.
func (d *DB) CollectionInfo(ctx context.Context, name string) (CollectionConfig, error) {
	const op errors.Op = "db.CollectionInfo"
	c, err := d.collection(op, name)
	if err != nil {
		return CollectionConfig{}, err
	}
	return c.config, nil
}

// Collections lists the collections' configs by name.
func (d *DB) Collections(ctx context.Context) []CollectionConfig {
	d.colsMu.RLock()
	defer d.colsMu.RUnlock()
	out := make([]CollectionConfig, 0, len(d.cols))
	for _, c := range d.cols {
		out = append(out, c.config)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// checkUnique refuses a config whose unique indexes the collection's
// current instances break.
func (d *DB) checkUnique(op errors.Op, c *collection) error {
	var col colRecord
	if err := d.m.st.Get(colKey(d.pfx, c.config.Name), &col); err != nil {
		return err
	}
	seen := map[string]map[string]string{} // path → encoded value → _id
	for _, ix := range c.config.Indexes {
		if ix.Unique {
			seen[ix.Path] = map[string]string{}
		}
	}
	if len(seen) == 0 {
		return nil
	}
	prefix := docPrefix(d.pfx, c.config.Name)
	return scanDocs(d.m.st.ScanRange, prefix, func(k []byte, doc *docRecord) error {
		if !doc.visible(&col) {
			return nil
		}
		v, err := decodeDoc(doc.Value)
		if err != nil {
			return err
		}
		id := string(k[len(prefix):])
		for path, vals := range seen {
			enc, ok := encodedAt(v, path)
			if !ok {
				continue
			}
			if other, dup := vals[enc]; dup {
				return errors.Errorf(op, errors.FailedPrecondition, "cannot add a unique index on %q: instances %s and %s share a value there", path, other, id)
			}
			vals[enc] = id
		}
		return nil
	})
}
