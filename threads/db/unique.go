package db

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/selfhub/hub/errors"
)

// Unique indexes across replicas. A hub refuses a local write that would
// give two visible instances the same value at a unique index
// (Txn.checkUnique), but two replicas apart may each accept one. When
// their records meet, every replica applies one rule to the instances it
// holds, so all of them agree:
//
//	Among the instances of a collection that share a value at a unique
//	index, the one whose latest write has the smallest version (event
//	clock, then log ID) keeps it; each of the others is a conflict.
//
// A conflict stays stored and indexed, with docRecord.Conflict set, but is
// not visible: reads and queries skip it, Listen reports it deleted, and
// Conflicts lists it. When the winner lets the value go (deleted, or
// saved with another), the next in line is visible again, and Listen
// reports it created. The owner resolves a conflict by creating the
// instance again (the same _id) with another value, or by changing or
// deleting the winner. The rule reads only the instances' latest writes,
// which converge already, so it gives every replica the same result
// whatever order the records arrived in.

// touched is a document written to a collection with unique indexes, with
// the value it had before (nil when it had none).
type touched struct {
	col, id string
	old     json.RawMessage
}

// uniqueGroup is the instances of a collection sharing one value at a
// unique index.
type uniqueGroup struct {
	col, path, enc string
}

// hasUnique reports whether a collection has a unique index.
func hasUnique(c *colRecord) bool {
	for _, ix := range c.Config.Indexes {
		if ix.Unique {
			return true
		}
	}
	return false
}

// resolveUnique applies the rule above to the groups the applied events
// changed (those of the values the touched instances had and have, and
// every group of collections whose indexes are rebuilt), flipping the
// instances whose conflict status changes and reporting them to Listen.
func (a *applier) resolveUnique() error {
	groups := map[uniqueGroup]map[string]*docRecord{}
	add := func(col string, c *colRecord, id string, rec *docRecord, only map[uniqueGroup]bool) error {
		if !rec.present(c) {
			return nil
		}
		doc, err := decodeDoc(rec.Value)
		if err != nil {
			return err
		}
		for _, ix := range c.Config.Indexes {
			if !ix.Unique {
				continue
			}
			if enc, ok := encodedAt(doc, ix.Path); ok {
				g := uniqueGroup{col, ix.Path, enc}
				if only != nil && !only[g] {
					continue
				}
				if groups[g] == nil {
					groups[g] = map[string]*docRecord{}
				}
				groups[g][id] = rec
			}
		}
		return nil
	}
	// The groups to look at.
	wanted := map[uniqueGroup]bool{}
	full := map[string]bool{}
	for name := range a.rebuild {
		if c, err := a.col(name); err != nil {
			return err
		} else if c != nil && hasUnique(c) {
			full[name] = true
		}
	}
	for _, t := range a.touched {
		c, err := a.col(t.col)
		if err != nil {
			return err
		}
		if c == nil || full[t.col] || t.old == nil && a.local {
			continue // a new instance of a local write holds its values alone
		}
		for _, raw := range []json.RawMessage{t.old, a.docs[string(docKey(a.d.pfx, t.col, t.id))].valueOrNil()} {
			if raw == nil {
				continue
			}
			doc, err := decodeDoc(raw)
			if err != nil {
				return err
			}
			for _, ix := range c.Config.Indexes {
				if enc, ok := encodedAt(doc, ix.Path); ok && ix.Unique {
					wanted[uniqueGroup{t.col, ix.Path, enc}] = true
				}
			}
		}
	}
	if len(wanted) == 0 && len(full) == 0 {
		return nil
	}
	// Their members, as written so far.
	for name := range full {
		if err := a.eachDoc(name, func(id string, rec *docRecord) error {
			c, _ := a.col(name)
			return add(name, c, id, rec, nil)
		}); err != nil {
			return err
		}
	}
	if err := a.members(wanted, add); err != nil {
		return err
	}
	// Each member's status, over every unique group it is in.
	affected := map[string]map[string]bool{} // col → ids
	for g, ms := range groups {
		if affected[g.col] == nil {
			affected[g.col] = map[string]bool{}
		}
		for id := range ms {
			affected[g.col][id] = true
		}
	}
	for col, ids := range affected {
		c, _ := a.col(col)
		for id := range ids {
			k := docKey(a.d.pfx, col, id)
			rec, err := a.doc(k)
			if err != nil {
				return err
			}
			lost, err := a.loses(col, c, id, rec, groups)
			if err != nil {
				return err
			}
			if rec.Conflict == lost {
				continue
			}
			next := *rec
			next.Conflict = lost
			a.docs[string(k)] = &next
			a.b.PutRaw(k, next.encode())
			if lost {
				a.changes = append(a.changes, change{Col: col, ID: id, Action: ActionDelete})
			} else {
				a.changes = append(a.changes, change{Col: col, ID: id, Action: ActionCreate, Value: next.Value})
			}
		}
	}
	return nil
}

// loses reports whether instance id loses a unique value: another
// instance sharing one of its values has an earlier latest write. Groups
// not gathered yet are gathered into groups.
func (a *applier) loses(col string, c *colRecord, id string, rec *docRecord, groups map[uniqueGroup]map[string]*docRecord) (bool, error) {
	if !rec.present(c) {
		return false, nil
	}
	doc, err := decodeDoc(rec.Value)
	if err != nil {
		return false, err
	}
	for _, ix := range c.Config.Indexes {
		if !ix.Unique {
			continue
		}
		enc, ok := encodedAt(doc, ix.Path)
		if !ok {
			continue
		}
		g := uniqueGroup{col, ix.Path, enc}
		if _, ok := groups[g]; !ok {
			groups[g] = map[string]*docRecord{}
			err := a.members(map[uniqueGroup]bool{g: true}, func(col string, c *colRecord, id string, r *docRecord, only map[uniqueGroup]bool) error {
				if r.present(c) {
					groups[g][id] = r
				}
				return nil
			})
			if err != nil {
				return false, err
			}
		}
		for other, r := range groups[g] {
			if other != id && rec.Version.after(r.Version) {
				return true, nil
			}
		}
	}
	return false, nil
}

// members calls add with each instance that may belong to the wanted
// groups: those the store's index entries name and those written in the
// batch. add checks the value.
func (a *applier) members(wanted map[uniqueGroup]bool, add func(col string, c *colRecord, id string, rec *docRecord, only map[uniqueGroup]bool) error) error {
	seen := map[string]bool{}
	visit := func(col, id string) error {
		k := string(docKey(a.d.pfx, col, id))
		if seen[k] {
			return nil
		}
		seen[k] = true
		rec, err := a.doc([]byte(k))
		if err != nil || rec == nil {
			return err
		}
		c, err := a.col(col)
		if err != nil || c == nil {
			return err
		}
		return add(col, c, id, rec, wanted)
	}
	for g := range wanted {
		if !a.fresh {
			prefix := append(idxPrefix(a.d.pfx, g.col, g.path), g.enc...)
			err := a.d.m.st.Scan(prefix, func(_, val []byte) error { return visit(g.col, string(val)) })
			if err != nil {
				return err
			}
		}
		docs := string(docPrefix(a.d.pfx, g.col))
		for k := range a.docs {
			if id, ok := strings.CutPrefix(k, docs); ok {
				if err := visit(g.col, id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// eachDoc calls fn with every document of collection col as written so
// far.
func (a *applier) eachDoc(col string, fn func(id string, rec *docRecord) error) error {
	prefix := docPrefix(a.d.pfx, col)
	seen := map[string]bool{}
	if !a.fresh {
		err := scanDocs(a.d.m.st.ScanRange, prefix, func(k []byte, rec *docRecord) error {
			seen[string(k)] = true
			if pending, ok := a.docs[string(k)]; ok {
				rec = pending
			}
			if rec == nil {
				return nil
			}
			return fn(string(k[len(prefix):]), rec)
		})
		if err != nil {
			return err
		}
	}
	for k, rec := range a.docs {
		if id, ok := strings.CutPrefix(k, string(prefix)); ok && !seen[k] && rec != nil {
			if err := fn(id, rec); err != nil {
				return err
			}
		}
	}
	return nil
}

// valueOrNil returns a present record's value, or nil.
func (d *docRecord) valueOrNil() json.RawMessage {
	if d == nil || d.Deleted {
		return nil
	}
	return d.Value
}

// Conflict is an instance that lost a unique value to another (see the
// rule above): stored, but not visible until it is resolved.
type Conflict struct {
	ID       string
	Instance json.RawMessage
}

// Conflicts lists the conflicts of collection col, by _id: what the owner
// resolves by creating each again with other values (or by changing the
// instances they lost to).
func (d *DB) Conflicts(ctx context.Context, col string) ([]Conflict, error) {
	const op errors.Op = "db.Conflicts"
	if _, err := d.collection(op, col); err != nil {
		return nil, err
	}
	var c colRecord
	if err := d.m.st.Get(colKey(d.pfx, col), &c); err != nil {
		return nil, errors.E(op, err)
	}
	var out []Conflict
	prefix := docPrefix(d.pfx, col)
	err := scanDocs(d.m.st.ScanRange, prefix, func(k []byte, rec *docRecord) error {
		if rec.Conflict && rec.present(&c) {
			out = append(out, Conflict{ID: string(k[len(prefix):]), Instance: rec.Value})
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, errors.E(op, err)
	}
	return out, nil
}
