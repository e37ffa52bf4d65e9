package db

import (
	"bytes"
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads/db/jsfunc"
	"github.com/selfhub/hub/threads/db/query"
)

// Txn is a transaction on one collection of a DB, as the wire's
// transactions are.
//
// A read transaction reads a snapshot: it sees the DB as it was when it
// began, whatever commits meanwhile. A write transaction holds the DB's
// write lock from Begin to Commit or Discard (at most TxnTimeout), reads
// the committed state plus its own writes, and commits them all as one
// event, atomically, or none of them.
type Txn struct {
	d    *DB
	col  *collection
	name string
	p    hub.Principal
	r    store.Reader // the snapshot, or the live store under the lock
	snap *store.Snapshot
	// colRec is the collection's record at Begin, for visibility.
	colRec colRecord

	// mu guards what follows: the wire lets a client send calls on one
	// transaction concurrently.
	mu      sync.Mutex
	write   bool
	pending map[string]*pendingWrite // by _id
	order   []string                 // _ids in order of first write
	// hidden are the conflicts (unique.go) looked up and found not
	// visible, by _id: a write to one replaces it, and the applier needs
	// what it replaces.
	hidden  map[string]*docRecord
	done    bool
	expired *time.Timer
	also    []func(*store.Batch) // see Also
}

// pendingWrite is a write transaction's latest write to one instance.
type pendingWrite struct {
	kind    opKind
	value   json.RawMessage // nil for delete
	doc     map[string]any  // value decoded; nil for delete
	existed bool            // visible before the transaction
	before  *docRecord      // its stored record then, when it existed
}

// ReadTxn begins a read transaction on a collection.
func (d *DB) ReadTxn(ctx context.Context, p hub.Principal, collection string) (*Txn, error) {
	const op errors.Op = "db.ReadTxn"
	c, err := d.collection(op, collection)
	if err != nil {
		return nil, err
	}
	snap := d.m.st.Snapshot()
	t := &Txn{d: d, col: c, name: collection, p: p, r: snap, snap: snap}
	if err := t.loadCol(); err != nil {
		snap.Close()
		return nil, errors.E(op, err)
	}
	return t, nil
}

// WriteTxn begins a write transaction on a collection; it waits for the
// DB's write lock.
func (d *DB) WriteTxn(ctx context.Context, p hub.Principal, collection string) (*Txn, error) {
	const op errors.Op = "db.WriteTxn"
	if _, err := d.collection(op, collection); err != nil {
		return nil, err
	}
	if err := d.lock(ctx); err != nil {
		return nil, err
	}
	c, err := d.collection(op, collection) // it may have gone while we waited
	if err != nil {
		d.unlock()
		return nil, err
	}
	// Under the lock, the compiled collection's record is current.
	t := &Txn{d: d, col: c, name: collection, p: p, r: d.m.st, colRec: c.record, write: true, pending: map[string]*pendingWrite{}}
	t.expired = time.AfterFunc(d.m.cfg.TxnTimeout, t.Discard)
	return t, nil
}

// WriteSpec names a write transaction to begin with BeginWrites.
type WriteSpec struct {
	DB         *DB
	Principal  hub.Principal
	Collection string
}

// BeginWrites begins write transactions on several DBs, for CommitAll. It
// takes the DBs' write locks in the order of their IDs, so two callers
// writing to the same DBs in different orders cannot deadlock. The
// transactions are returned in the order of specs. Each DB may be named
// once.
func BeginWrites(ctx context.Context, specs ...WriteSpec) ([]*Txn, error) {
	const op errors.Op = "db.BeginWrites"
	order := make([]int, len(specs))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return specs[order[i]].DB.id < specs[order[j]].DB.id })
	txns := make([]*Txn, len(specs))
	for k, i := range order {
		if k > 0 && specs[order[k-1]].DB == specs[i].DB {
			for _, t := range txns {
				if t != nil {
					t.Discard()
				}
			}
			return nil, errors.E(op, errors.Invalid, "a DB may take part once in a multi-DB write")
		}
		t, err := specs[i].DB.WriteTxn(ctx, specs[i].Principal, specs[i].Collection)
		if err != nil {
			for _, t := range txns {
				if t != nil {
					t.Discard()
				}
			}
			return nil, err
		}
		txns[i] = t
	}
	return txns, nil
}

func (t *Txn) loadCol() error { return t.r.Get(colKey(t.d.pfx, t.name), &t.colRec) }

// Discard ends the transaction without writing. It is safe to call more
// than once and after Commit.
func (t *Txn) Discard() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.end()
}

// end releases what the transaction holds; t.mu is held.
func (t *Txn) end() {
	if t.done {
		return
	}
	t.done = true
	if t.snap != nil {
		t.snap.Close()
	}
	if t.write {
		t.expired.Stop()
		t.d.unlock()
	}
}

// usable checks the transaction is open, and a write one when write is set.
func (t *Txn) usable(op errors.Op, write bool) error {
	if t.done {
		return errors.E(op, errors.FailedPrecondition, "the transaction has ended (committed, discarded, or past its time limit); start a new one")
	}
	if write && !t.write {
		return errors.E(op, errors.FailedPrecondition, "a read transaction cannot write")
	}
	return nil
}

// current returns an instance's visible JSON as the transaction sees it.
func (t *Txn) current(id string) (json.RawMessage, bool, error) {
	value, _, exists, err := t.lookup(id)
	return value, exists, err
}

// lookup is current that also returns the stored record when the
// transaction has not written the instance (nil otherwise, or when none
// is visible).
func (t *Txn) lookup(id string) (value json.RawMessage, rec *docRecord, exists bool, err error) {
	if pw, ok := t.pending[id]; ok {
		return pw.value, nil, pw.kind != opDelete, nil
	}
	if rec, err = t.stored(id); err != nil || rec == nil {
		return nil, nil, false, err
	}
	return rec.Value, rec, true, nil
}

// stored returns an instance's visible stored record, or nil.
func (t *Txn) stored(id string) (*docRecord, error) {
	rec, err := readDoc(t.r, docKey(t.d.pfx, t.name, id))
	if errors.Is(errors.NotExist, err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !rec.visible(&t.colRec) {
		if rec.present(&t.colRec) {
			if t.hidden == nil {
				t.hidden = map[string]*docRecord{}
			}
			t.hidden[id] = rec
		}
		return nil, nil
	}
	return rec, nil
}

// Create adds new instances and returns their _ids; an instance without
// one gets a fresh one. An _id that already exists is refused (Exist).
func (t *Txn) Create(ctx context.Context, instances [][]byte) ([]string, error) {
	const op errors.Op = "db.Create"
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.usable(op, true); err != nil {
		return nil, err
	}
	ids := make([]string, len(instances))
	staged := map[string]*pendingWrite{}
	for i, raw := range instances {
		doc, err := t.d.parseInstance(op, raw)
		if err != nil {
			return nil, fmt.Errorf("instance %d: %w", i, err)
		}
		id, generated, err := ensureID(op, doc)
		if err != nil {
			return nil, err
		}
		if generated {
			raw = nil // the stored JSON must hold the new _id
		}
		if _, dup := staged[id]; dup {
			return nil, errors.Errorf(op, errors.Exist, "_id %q is given twice", id)
		}
		// A generated _id (a UUID, 74 random bits) is new: looking it up
		// would only cost a store read.
		if !generated {
			if _, exists, err := t.current(id); err != nil {
				return nil, errors.E(op, err)
			} else if exists {
				return nil, errors.Errorf(op, errors.Exist, "instance %q already exists in collection %s; use Save to change it", id, t.name)
			}
		}
		value, err := t.check(ctx, op, opCreate, id, doc, raw, nil)
		if err != nil {
			return nil, err
		}
		ids[i] = id
		staged[id] = &pendingWrite{kind: opCreate, value: value, doc: doc}
	}
	t.stage(ids, staged)
	return ids, nil
}

// Save replaces existing instances (each must have an _id that exists).
func (t *Txn) Save(ctx context.Context, instances [][]byte) error {
	return t.save(ctx, "db.Save", instances, true)
}

// Verify checks instances as Save would, without writing them.
func (t *Txn) Verify(ctx context.Context, instances [][]byte) error {
	return t.save(ctx, "db.Verify", instances, false)
}

func (t *Txn) save(ctx context.Context, op errors.Op, instances [][]byte, write bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.usable(op, write); err != nil {
		return err
	}
	ids := make([]string, len(instances))
	staged := map[string]*pendingWrite{}
	for i, raw := range instances {
		doc, err := t.d.parseInstance(op, raw)
		if err != nil {
			return fmt.Errorf("instance %d: %w", i, err)
		}
		id, ok := doc["_id"].(string)
		if !ok || id == "" {
			return errors.Errorf(op, errors.Invalid, "instance %d has no _id; Save changes existing instances (use Create for new ones)", i)
		}
		prev, before, exists, err := t.lookup(id)
		if err != nil {
			return errors.E(op, err)
		}
		if !exists {
			return errors.Errorf(op, errors.NotExist, "instance %q not found in collection %s", errors.Clip(id), t.name)
		}
		value, err := t.check(ctx, op, opSave, id, doc, raw, prev)
		if err != nil {
			return err
		}
		ids[i] = id
		staged[id] = &pendingWrite{kind: opSave, value: value, doc: doc, existed: true, before: before}
	}
	if write {
		t.stage(ids, staged)
	}
	return nil
}

// Delete removes instances by _id; each must exist.
func (t *Txn) Delete(ctx context.Context, ids []string) error {
	const op errors.Op = "db.Delete"
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.usable(op, true); err != nil {
		return err
	}
	staged := map[string]*pendingWrite{}
	for _, id := range ids {
		prev, before, exists, err := t.lookup(id)
		if err != nil {
			return errors.E(op, err)
		}
		if !exists {
			return errors.Errorf(op, errors.NotExist, "instance %q not found in collection %s", errors.Clip(id), t.name)
		}
		if err := t.validate(ctx, op, jsfunc.Delete, id, prev, nil); err != nil {
			return err
		}
		staged[id] = &pendingWrite{kind: opDelete, existed: true, before: before}
	}
	t.stage(ids, staged)
	return nil
}

// stage records checked writes, all of them or (on error, before this is
// reached) none.
func (t *Txn) stage(ids []string, staged map[string]*pendingWrite) {
	for _, id := range ids {
		w := staged[id]
		if prev, ok := t.pending[id]; ok {
			// Fold with the earlier write of this transaction: a create
			// then a save is still a create; a create then a delete is
			// nothing at all.
			w.existed, w.before = prev.existed, prev.before
			if prev.kind == opCreate && w.kind == opSave {
				w.kind = opCreate
			}
		} else {
			t.order = append(t.order, id)
		}
		t.pending[id] = w
	}
}

// check validates one instance for a write: size, schema, the unique
// indexes against the transaction's view, and the write validator. It
// returns the JSON to store: raw as the client sent it, or doc encoded
// when raw is nil (an _id was added).
func (t *Txn) check(ctx context.Context, op errors.Op, kind opKind, id string, doc map[string]any, raw, prev json.RawMessage) (json.RawMessage, error) {
	if err := t.col.schema.validate(op, doc, t.d.m.cfg.Now); err != nil {
		return nil, err
	}
	value := raw
	if value == nil {
		var err error
		if value, err = json.Marshal(doc); err != nil {
			return nil, errors.E(op, errors.Invalid, err)
		}
	} else if bytes.ContainsAny(value, " \t\r\n") {
		// Stored compact, once, here: the encoders of encode.go copy it.
		var buf bytes.Buffer
		if err := json.Compact(&buf, value); err != nil {
			return nil, errors.E(op, errors.Invalid, err)
		}
		value = buf.Bytes()
	}
	if len(value) > t.d.m.cfg.MaxInstanceSize {
		return nil, errors.Errorf(op, errors.Exhausted, "instance %q is %d bytes; this hub's limit is %d", errors.Clip(id), len(value), t.d.m.cfg.MaxInstanceSize)
	}
	evType := jsfunc.Create
	if kind == opSave {
		evType = jsfunc.Save
	}
	if err := t.validate(ctx, op, evType, id, prev, value); err != nil {
		return nil, err
	}
	for _, ix := range t.col.config.Indexes {
		if !ix.Unique {
			continue
		}
		if err := t.checkUnique(op, ix.Path, id, doc); err != nil {
			return nil, err
		}
	}
	return value, nil
}

// checkUnique refuses doc when another instance, committed or pending,
// has the same value at a uniquely indexed path.
func (t *Txn) checkUnique(op errors.Op, path, id string, doc map[string]any) error {
	enc, ok := encodedAt(doc, path)
	if !ok {
		return nil
	}
	conflict := func(other string) error {
		return errors.Errorf(op, errors.Exist, "instance %q has the same %s as instance %q, and %s is a unique index", errors.Clip(id), path, errors.Clip(other), path)
	}
	for otherID, pw := range t.pending {
		if otherID == id || pw.kind == opDelete {
			continue
		}
		other, err := decodeDoc(pw.value)
		if err != nil {
			return err
		}
		if e, ok := encodedAt(other, path); ok && e == enc {
			return conflict(otherID)
		}
	}
	prefix := append(idxPrefix(t.d.pfx, t.name, path), enc...)
	var found error
	err := t.r.Scan(prefix, func(_, val []byte) error {
		other := string(val) // an entry's value is its instance's _id
		if other == id {
			return nil
		}
		if _, changed := t.pending[other]; changed {
			return nil // its pending value was checked above
		}
		found = conflict(other)
		return found
	})
	if found != nil {
		return found
	}
	return err
}

// Has reports whether every _id exists.
func (t *Txn) Has(ctx context.Context, ids []string) (bool, error) {
	const op errors.Op = "db.Has"
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.usable(op, false); err != nil {
		return false, err
	}
	t.d.m.count(t.p, int64(len(ids)), 0)
	for _, id := range ids {
		raw, exists, err := t.current(id)
		if err != nil {
			return false, errors.E(op, err)
		}
		if exists {
			if raw, err = t.filter(ctx, raw); err != nil {
				return false, errors.E(op, err)
			}
		}
		if !exists || raw == nil {
			return false, nil
		}
	}
	return true, nil
}

// FindByID returns one instance as the reader may see it.
func (t *Txn) FindByID(ctx context.Context, id string) (json.RawMessage, error) {
	const op errors.Op = "db.FindByID"
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.usable(op, false); err != nil {
		return nil, err
	}
	raw, exists, err := t.current(id)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if exists {
		if raw, err = t.filter(ctx, raw); err != nil {
			return nil, errors.E(op, err)
		}
	}
	if !exists || raw == nil {
		return nil, errors.Errorf(op, errors.NotExist, "instance %q not found in collection %s", errors.Clip(id), t.name)
	}
	t.d.m.count(t.p, 1, 0)
	return raw, nil
}

// filter applies the collection's read filter for the transaction's
// principal: the instance as the reader may see it, or nil when hidden.
func (t *Txn) filter(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	if t.col.filter == nil {
		return raw, nil
	}
	return t.col.filter.Apply(ctx, string(t.p.Owner()), raw)
}

// Also adds put to a write transaction's commit: put is called with the
// batch that holds the transaction's event, to add writes of the caller's
// own keys (outside every DB's), which then become durable atomically with
// the event, or not at all. It is for services that keep records of their
// own beside a collection's instances (the bucket service's record of each
// bucket), so that the two never disagree after a crash.
func (t *Txn) Also(put func(*store.Batch)) error {
	const op errors.Op = "db.Also"
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.usable(op, true); err != nil {
		return err
	}
	t.also = append(t.also, put)
	return nil
}

// Commit writes the transaction's writes as one event and ends it. The
// DB's write lock is released as soon as the event is visible, and Commit
// returns once it is durable: the next transaction need not wait for this
// one's sync, and overlapping syncs are shared.
func (t *Txn) Commit(ctx context.Context) error {
	return commitTxns(ctx, "db.Commit", t)
}

// CommitAll commits write transactions on several DBs atomically: one
// batch holds all their events, so after a crash either every one of them
// is there or none is. Begin them with BeginWrites, which takes the DBs'
// locks in an order that cannot deadlock.
func CommitAll(ctx context.Context, txns ...*Txn) error {
	return commitTxns(ctx, "db.CommitAll", txns...)
}

func commitTxns(ctx context.Context, op errors.Op, txns ...*Txn) error {
	for _, t := range txns {
		t.mu.Lock()
		defer t.mu.Unlock()
		if err := t.usable(op, true); err != nil {
			return err
		}
	}
	var (
		staged []*applier
		b      *store.Batch
		err    error
	)
	for _, t := range txns {
		ops := t.ops()
		if len(ops) == 0 && len(t.also) == 0 {
			continue
		}
		if b == nil {
			b = t.d.m.st.NewBatch()
		}
		for _, put := range t.also {
			put(b)
		}
		if len(ops) == 0 {
			continue
		}
		var a *applier
		if a, err = t.d.stage(b, t.p, ops, t.known()); err != nil {
			break
		}
		staged = append(staged, a)
		t.d.m.count(t.p, 0, int64(len(ops)))
	}
	durable := func() error { return nil }
	if err == nil && b != nil {
		durable, err = commit(b, staged...)
	}
	for _, t := range txns {
		t.end()
	}
	if err == nil {
		err = durable()
	}
	if err != nil {
		return errors.E(op, err)
	}
	return nil
}

// known is what the transaction saw of the instances it writes, under the
// DB's write lock: the applier needs no store reads for them. A local
// write always wins over what is stored (the clock only moves forward),
// so an instance that did not exist is as good as absent, tombstone or
// not.
func (t *Txn) known() hints {
	col := t.colRec // current: read under the lock
	h := hints{records: make(map[string]*docRecord, len(t.pending)), docs: make(map[string]map[string]any, len(t.pending)), cols: map[string]*colRecord{t.name: &col}, local: true}
	for id, w := range t.pending {
		k := string(docKey(t.d.pfx, t.name, id))
		before := w.before // nil: did not exist, or is a conflict
		if before == nil {
			before = t.hidden[id]
		}
		h.records[k] = before
		if w.doc != nil {
			h.docs[k] = w.doc
		}
	}
	return h
}

// ops turns the transaction's pending writes into event operations.
func (t *Txn) ops() []operation {
	var ops []operation
	for _, id := range t.order {
		w := t.pending[id]
		switch {
		case w.kind == opDelete && !w.existed:
			continue // made and removed within the transaction
		case w.kind == opCreate && w.existed:
			ops = append(ops, operation{Kind: opSave, Col: t.name, ID: id, Value: w.value})
		default:
			ops = append(ops, operation{Kind: w.kind, Col: t.name, ID: id, Value: w.value})
		}
	}
	return ops
}

// parseInstance decodes an instance: a JSON object within the size limit.
func (d *DB) parseInstance(op errors.Op, raw []byte) (map[string]any, error) {
	if len(raw) > d.m.cfg.MaxInstanceSize {
		return nil, errors.Errorf(op, errors.Exhausted, "instance is %d bytes; this hub's limit is %d", len(raw), d.m.cfg.MaxInstanceSize)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		var syntax *json.SyntaxError
		if stderrors.As(err, &syntax) {
			return nil, errors.E(op, errors.Invalid, "instance is not valid JSON")
		}
		return nil, errors.E(op, errors.Invalid, "instance must be a JSON object")
	}
	if doc == nil {
		return nil, errors.E(op, errors.Invalid, "instance must be a JSON object")
	}
	return doc, nil
}

// ensureID checks the instance's _id, or gives it a fresh one (a
// time-ordered UUID) when it has none.
func ensureID(op errors.Op, doc map[string]any) (id string, generated bool, err error) {
	v, ok := doc["_id"]
	if !ok || v == nil || v == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return "", false, errors.E(op, errors.Internal, err)
		}
		doc["_id"] = u.String()
		return u.String(), true, nil
	}
	id, ok = v.(string)
	if !ok {
		return "", false, errors.Errorf(op, errors.Invalid, "_id must be a string, not %T", v)
	}
	if len(id) > maxIDLen || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return "", false, errors.Errorf(op, errors.Invalid, "_id %q must be at most %d characters without control characters", errors.Clip(id), maxIDLen)
	}
	return id, false, nil
}

// validate runs the collection's write validator, if it has one, on a
// write of next (nil for a delete) over prev (nil for a create), as the
// transaction's principal. The validator sees the go-threads event: for a
// create the new instance, for a save the merge patch from prev to next.
func (t *Txn) validate(ctx context.Context, op errors.Op, typ jsfunc.EventType, id string, prev, next json.RawMessage) error {
	if t.col.validator == nil {
		return nil
	}
	ev := jsfunc.Event{Type: typ, Collection: t.name, InstanceID: id, Time: t.d.m.cfg.Now().UnixNano()}
	switch typ {
	case jsfunc.Create:
		ev.Patch = next
	case jsfunc.Save:
		patch, err := jsfunc.MergePatch(prev, next)
		if err != nil {
			return errors.E(op, err)
		}
		ev.Patch = patch
	}
	event, err := json.Marshal(ev)
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if err := t.col.validator.Validate(ctx, string(t.p.Owner()), event, prev); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// decodeDoc decodes an instance's JSON object, with numbers as float64
// (the type queries compare).
func decodeDoc(raw []byte) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return nil, errors.E(errors.Invalid, "not a JSON object")
	}
	return doc, nil
}

// encodedAt returns the index encoding of doc's value at path.
func encodedAt(doc map[string]any, path string) (string, bool) {
	v, ok := query.Lookup(doc, path)
	if !ok {
		return "", false
	}
	val, ok := query.ValueOf(v)
	if !ok {
		return "", false
	}
	return string(query.EncodeKey(val)), true
}
