package db

import (
	"encoding/json"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads/db/query"
)

// applier applies the ops of events to a DB's state inside one batch. It is
// the only code that changes collection and document records, index
// entries and the listen log, for local writes and for records from other
// peers alike, so both converge the same way: per document and per
// collection, the write with the latest version wins.
//
// A pebble batch cannot be read, so the applier keeps what it wrote in
// maps and reads through them. It runs under the DB's write lock.
type applier struct {
	d       *DB
	b       *store.Batch
	cols    map[string]*colRecord     // written or read so far; nil value: absent
	docs    map[string]*docRecord     // by docKey
	seq     uint64                    // last change sequence number (DB.seq, then as staged)
	bytes   int64                     // change in stored instance bytes (to DB.bytes)
	changes []change                  // appended to the listen log
	rebuild map[string]bool           // collections whose indexes must be rebuilt
	decoded map[string]map[string]any // new values already decoded, by docKey
	// touched are the documents written to collections with unique
	// indexes, for resolveUnique.
	touched []touched
	// acl says whether an event applied holds ACL operations.
	acl bool
	// local is hints.local, for resolveUnique.
	local bool
	// fresh says that the state is being rebuilt from nothing
	// (rebuildState): what is stored does not count.
	fresh bool
	// entry numbers the journal entry of a local write, whose record the
	// former makes after the commit (journal.go); 0 for other events.
	entry uint64
}

// hints are what a local transaction already knows about the instances it
// writes, read and decoded under the DB's write lock: their records before
// the write (nil: none visible), the new values decoded, and the
// records of their collections. A local write
// always wins over what is stored (the clock only moves forward), so an
// instance that did not exist is as good as absent, tombstone or not.
type hints struct {
	records map[string]*docRecord
	docs    map[string]map[string]any
	cols    map[string]*colRecord // the collections written to, by name
	// local says the writes passed Txn.checkUnique: an instance that was
	// not there takes a value no other instance holds.
	local bool
}

func (d *DB) newApplier(b *store.Batch) *applier {
	return &applier{d: d, b: b, cols: map[string]*colRecord{}, docs: map[string]*docRecord{}, rebuild: map[string]bool{}, seq: d.seq}
}

func (a *applier) col(name string) (*colRecord, error) {
	if c, ok := a.cols[name]; ok {
		return c, nil
	}
	if a.fresh {
		return nil, nil
	}
	var c colRecord
	err := a.d.m.st.Get(colKey(a.d.pfx, name), &c)
	if errors.Is(errors.NotExist, err) {
		a.cols[name] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.cols[name] = &c
	return &c, nil
}

// doc returns the record at docKey k, as written so far.
func (a *applier) doc(k []byte) (*docRecord, error) {
	if d, ok := a.docs[string(k)]; ok {
		return d, nil
	}
	if a.fresh {
		return nil, nil
	}
	d, err := readDoc(a.d.m.st, k)
	if errors.Is(errors.NotExist, err) {
		a.docs[string(k)] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.docs[string(k)] = d
	return d, nil
}

// apply applies one event's ops, written by log at time t.
func (a *applier) apply(ev eventBody, log string) error {
	const op errors.Op = "db.apply"
	v := version{Time: ev.Time, Log: log}
	for _, o := range ev.Ops {
		var err error
		switch o.Kind {
		case opCollSet, opCollClear:
			err = a.applyCollection(o, v)
		case opCreate, opSave, opDelete:
			err = a.applyDoc(o, v)
		case opACL:
			// The list is read from the records themselves (acl.go),
			// once the event is stored.
			a.acl = true
		default:
			err = errors.Errorf(op, errors.Invalid, "unknown operation %q", o.Kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) applyCollection(o operation, v version) error {
	const op errors.Op = "db.applyCollection"
	cur, err := a.col(o.Col)
	if err != nil {
		return err
	}
	next := colRecord{}
	if cur != nil {
		next = *cur
	}
	if o.Kind == opCollClear && v.after(next.Cleared) {
		next.Cleared = v
	}
	if cur == nil || v.after(cur.Version) {
		next.Version = v
		next.Deleted = o.Kind == opCollClear
		if o.Kind == opCollSet {
			var cfg CollectionConfig
			if err := json.Unmarshal(o.Value, &cfg); err != nil {
				return errors.E(op, errors.Invalid, err)
			}
			next.Config = cfg
		}
	}
	a.cols[o.Col] = &next
	a.b.Put(colKey(a.d.pfx, o.Col), next)
	a.rebuild[o.Col] = true
	return nil
}

func (a *applier) applyDoc(o operation, v version) error {
	k := docKey(a.d.pfx, o.Col, o.ID)
	cur, err := a.doc(k)
	if err != nil {
		return err
	}
	if cur != nil && !v.after(cur.Version) {
		return nil // a later write already won
	}
	col, err := a.col(o.Col)
	if err != nil {
		return err
	}
	next := &docRecord{Version: v, Deleted: o.Kind == opDelete}
	if !next.Deleted {
		next.Value = o.Value
	}
	wasVisible, isVisible := cur.visible(col), next.visible(col)
	wasPresent, isPresent := cur.present(col), next.present(col)
	if cur != nil {
		a.bytes -= int64(len(cur.Value))
	}
	a.bytes += int64(len(next.Value))
	a.docs[string(k)] = next
	a.b.PutRaw(k, next.encode())
	if col != nil && hasUnique(col) {
		t := touched{col: o.Col, id: o.ID}
		if wasPresent {
			t.old = cur.Value
		}
		a.touched = append(a.touched, t)
	}
	if !a.rebuild[o.Col] {
		if wasPresent {
			if err := a.indexDoc(o.Col, col, o.ID, cur.Value, false); err != nil {
				return err
			}
		}
		if isPresent {
			doc := a.decoded[string(k)]
			if err := a.indexDocValue(o.Col, col, o.ID, next.Value, doc, true); err != nil {
				return err
			}
		}
	}
	switch {
	case !wasVisible && isVisible:
		a.changes = append(a.changes, change{Col: o.Col, ID: o.ID, Action: ActionCreate, Value: next.Value})
	case wasVisible && isVisible:
		a.changes = append(a.changes, change{Col: o.Col, ID: o.ID, Action: ActionSave, Value: next.Value})
	case wasVisible && !isVisible:
		a.changes = append(a.changes, change{Col: o.Col, ID: o.ID, Action: ActionDelete})
	}
	return nil
}

// indexDoc adds (or removes) the index entries of one document.
func (a *applier) indexDoc(colName string, col *colRecord, id string, raw json.RawMessage, add bool) error {
	return a.indexDocValue(colName, col, id, raw, nil, add)
}

// indexDocValue is indexDoc for a document that may be decoded already.
func (a *applier) indexDocValue(colName string, col *colRecord, id string, raw json.RawMessage, doc map[string]any, add bool) error {
	if len(col.Config.Indexes) == 0 {
		return nil
	}
	if doc == nil {
		var err error
		if doc, err = decodeDoc(raw); err != nil {
			return err
		}
	}
	for _, ix := range col.Config.Indexes {
		key, ok := indexEntry(a.d, colName, ix.Path, doc, id)
		if !ok {
			continue
		}
		if add {
			a.b.PutRaw(key, []byte(id)) // the value names the instance
		} else {
			a.b.Delete(key)
		}
	}
	return nil
}

// indexEntry returns the index key of doc for path, or false when the
// document has no indexable value there.
func indexEntry(d *DB, col, path string, doc map[string]any, id string) ([]byte, bool) {
	v, ok := query.Lookup(doc, path)
	if !ok {
		return nil, false
	}
	val, ok := query.ValueOf(v)
	if !ok {
		return nil, false
	}
	return append(append(idxPrefix(d.pfx, col, path), query.EncodeKey(val)...), id...), true
}

// finish rebuilds the indexes of collections whose definition changed
// (backfilling every visible document), appends the listen log and
// stores the counters.
func (a *applier) finish() error {
	for name := range a.rebuild {
		if err := a.rebuildIndexes(name); err != nil {
			return err
		}
	}
	if err := a.resolveUnique(); err != nil {
		return err
	}
	// Keep the newest ListenHistory changes for listeners to resume from:
	// each new change retires the one that falls out (a point deletion;
	// a range deletion on every write costs every later read of the log).
	// DB.load trims what a smaller ListenHistory left over.
	keep := uint64(a.d.m.cfg.ListenHistory)
	for _, c := range a.changes {
		a.seq++
		a.b.PutRaw(chgKey(a.d.pfx, a.seq), c.encode())
		if a.seq > keep {
			a.b.Delete(chgKey(a.d.pfx, a.seq-keep))
		}
	}
	a.b.PutRaw(countersKey(a.d.pfx), counters{seq: a.seq, clock: a.d.clock, bytes: a.d.bytes + a.bytes}.encode())
	return nil
}

// rebuildIndexes drops a collection's index entries and writes them again
// from its visible documents: this is how indexes are backfilled when a
// collection gains one.
func (a *applier) rebuildIndexes(name string) error {
	col, err := a.col(name)
	if err != nil {
		return err
	}
	a.b.DeletePrefix(idxColPrefix(a.d.pfx, name))
	if col == nil || col.Deleted || len(col.Config.Indexes) == 0 {
		return nil
	}
	prefix := docPrefix(a.d.pfx, name)
	// Documents in the store, overridden by those written in this batch.
	seen := map[string]bool{}
	scan := a.d.m.st.ScanRange
	if a.fresh {
		scan = func(_, _ []byte, _ func(key, val []byte) error) error { return nil }
	}
	err = scanDocs(scan, prefix, func(k []byte, d *docRecord) error {
		key := string(k)
		seen[key] = true
		if pending, ok := a.docs[key]; ok {
			d = pending
		}
		if d.present(col) {
			return a.indexDoc(name, col, string(k[len(prefix):]), d.Value, true)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for key, d := range a.docs {
		if !seen[key] && len(key) > len(prefix) && key[:len(prefix)] == string(prefix) && d.present(col) {
			if err := a.indexDoc(name, col, key[len(prefix):], d.Value, true); err != nil {
				return err
			}
		}
	}
	return nil
}
