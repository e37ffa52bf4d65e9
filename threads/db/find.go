package db

import (
	"context"
	"encoding/json"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads/db/query"
)

// Find returns the instances matching queryJSON (the wire's query format),
// as the reader may see them: filtered, then sorted, then seeked, skipped
// and limited. The read filter runs before the query matches, so a reader
// cannot find instances, or learn field values, by querying fields the
// filter hides from them.
//
// Candidates come from an index when the planner finds one for the
// query's equality or range criteria (an ordered scan of just the matching
// entries), else from a scan of the collection; the query is always
// matched against each candidate, so the plan only decides the cost.
func (t *Txn) Find(ctx context.Context, queryJSON []byte) ([]json.RawMessage, error) {
	const op errors.Op = "db.Find"
	q, err := query.Parse(queryJSON)
	if err != nil {
		return nil, errors.E(op, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.usable(op, false); err != nil {
		return nil, err
	}
	plan, err := q.Plan(t.col.indexPaths())
	if err != nil {
		return nil, errors.E(op, err)
	}
	var docs []query.Doc
	add := func(id string, raw json.RawMessage) error {
		raw, err := t.filter(ctx, raw)
		if err != nil || raw == nil {
			return err
		}
		v, err := decodeDoc(raw)
		if err != nil {
			return err
		}
		docs = append(docs, query.Doc{ID: id, Value: v, Raw: raw})
		return nil
	}
	// When the scan's order is the query's, it can stop once it has
	// skip+limit results (stopAt), and the read filter and the matching
	// need not see the rest: a full scan reads instances in _id order
	// (inIDOrder), an index scan in the order of its values (ordered).
	stopAt, scan, matched := 0, t.r.ScanRange, 0
	if plan.Full && t.inIDOrder(q) || !plan.Full && t.ordered(q, plan) {
		stopAt = q.Skip + q.Limit
		if q.Sort.Desc {
			scan = t.r.ScanRangeReverse
		}
	}
	// visit adds a stored instance, unless the transaction changed it
	// (those come from the pending writes below), and ends the scan with
	// errStopScan once it has enough.
	visit := func(id string, rec *docRecord) error {
		if _, pending := t.pending[id]; pending || !rec.visible(&t.colRec) {
			return nil
		}
		n := len(docs)
		if err := add(id, rec.Value); err != nil {
			return err
		}
		if stopAt > 0 && len(docs) > n && q.Match(docs[n].Value) {
			if matched++; matched == stopAt {
				return errStopScan
			}
		}
		return nil
	}
	if plan.Full {
		prefix := docPrefix(t.d.pfx, t.name)
		err = scanDocs(scan, prefix, func(k []byte, rec *docRecord) error {
			return visit(string(k[len(prefix):]), rec)
		})
	} else {
		seen := map[string]bool{}
		ip := idxPrefix(t.d.pfx, t.name, plan.Index)
		lower, upper := boundKeys(ip, plan)
		// An entry's value is its instance's _id.
		err = scan(lower, upper, func(_, idBytes []byte) error {
			id := string(idBytes)
			if seen[id] {
				return nil // a plan for ors may cover a value twice
			}
			seen[id] = true
			rec, err := readDoc(t.r, docKey(t.d.pfx, t.name, id))
			if err != nil {
				return err
			}
			return visit(id, rec)
		})
	}
	if err == errStopScan {
		err = nil
	}
	if err != nil {
		return nil, errors.E(op, err)
	}
	for _, id := range t.order {
		if w := t.pending[id]; w.kind != opDelete {
			if err := add(id, w.value); err != nil {
				return nil, errors.E(op, err)
			}
		}
	}
	found := q.Apply(docs)
	t.d.m.count(t.p, int64(len(found)), 0)
	out := make([]json.RawMessage, len(found))
	for i, d := range found {
		out[i] = d.Raw
	}
	return out, nil
}

// ordered reports whether a query's results can be read off its index in
// order, stopping early: the plan scans the index of the sort field (so
// every candidate has a value there, and the index order, value then _id,
// is the query's order, reversed for a descending sort), the query has a
// limit and no seek or ors, nothing hidden by a read filter or changed by
// this transaction needs merging in.
func (t *Txn) ordered(q *query.Query, plan query.Plan) bool {
	return q.Sort.FieldPath == plan.Index && q.Limit > 0 && q.Seek == "" && len(q.Ors) == 0 &&
		t.col.filter == nil && len(t.pending) == 0
}

// inIDOrder reports whether a full scan, which reads instances in _id
// order, yields the query's results in order and can stop early: the
// query sorts by _id (or not at all), has a limit and no seek, and no
// pending write of this transaction needs merging in. A read filter may
// hide instances or change their fields, never their _id, so it does not
// matter here.
func (t *Txn) inIDOrder(q *query.Query) bool {
	return (q.Sort.FieldPath == "" || q.Sort.FieldPath == "_id") && q.Limit > 0 && q.Seek == "" && len(t.pending) == 0
}

// boundKeys turns a plan's range into store keys under the index prefix
// ip. Entries are ip || encoded value || _id, and no encoded value is a
// prefix of another, so the value range covers exactly its entries.
func boundKeys(ip []byte, p query.Plan) (lower, upper []byte) {
	start, end := p.Range()
	lower = append(append([]byte{}, ip...), start...)
	if end == nil {
		return lower, store.PrefixEnd(ip)
	}
	return lower, append(append([]byte{}, ip...), end...)
}
