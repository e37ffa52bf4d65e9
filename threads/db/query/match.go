package query

import (
	"cmp"
	"slices"
	"sort"
	"strings"
)

// Lookup returns the value at a dot-separated path in doc, and whether it
// is present. A path through something other than an object, a missing key
// and a JSON null all report false. Arrays are not traversed: "a.0" names a
// key "0" of an object a.
func Lookup(doc map[string]any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	cur := doc
	for {
		key, rest, more := strings.Cut(path, ".")
		v, ok := cur[key]
		if !ok || v == nil {
			return nil, false
		}
		if !more {
			return v, true
		}
		if cur, ok = v.(map[string]any); !ok {
			return nil, false
		}
		path = rest
	}
}

// Match reports whether doc satisfies q (see the package comment). doc is a
// JSON object as encoding/json decodes it, with or without UseNumber. A nil
// q matches every document.
func (q *Query) Match(doc map[string]any) bool {
	if q == nil {
		return true
	}
	if len(q.Ors) == 0 {
		return q.matchAnds(doc)
	}
	if len(q.Ands) > 0 && q.matchAnds(doc) {
		return true
	}
	for _, o := range q.Ors {
		if o.Match(doc) {
			return true
		}
	}
	return false
}

func (q *Query) matchAnds(doc map[string]any) bool {
	for i := range q.Ands {
		if !q.Ands[i].Match(doc) {
			return false
		}
	}
	return true
}

// Match reports whether the criterion holds for doc. An absent field, an
// object or array, or a value of another type than c.Value satisfies only
// Ne. An unknown operation never holds.
func (c *Criterion) Match(doc map[string]any) bool {
	raw, ok := Lookup(doc, c.FieldPath)
	if !ok {
		return c.Op == Ne
	}
	v, ok := ValueOf(raw)
	if !ok || v.kind != c.Value.kind {
		return c.Op == Ne
	}
	r := Compare(v, c.Value)
	switch c.Op {
	case Eq:
		return r == 0
	case Ne:
		return r != 0
	case Gt:
		return r > 0
	case Lt:
		return r < 0
	case Ge:
		return r >= 0
	case Le:
		return r <= 0
	}
	return false
}

// sortKey is where a document falls in the sort order.
type sortKey struct {
	rank  uint8 // 0 absent, 1 a scalar (compare val), 2 an object or array
	val   Value
	id    string
	index int // position in the input, so equal IDs keep their input order
}

func (q *Query) keyOf(d *Doc, byID bool, i int) sortKey {
	k := sortKey{id: d.ID, index: i}
	if byID {
		return k
	}
	raw, ok := Lookup(d.Value, q.Sort.FieldPath)
	if !ok {
		return k
	}
	if v, ok := ValueOf(raw); ok {
		k.rank, k.val = 1, v
	} else {
		k.rank = 2
	}
	return k
}

// compareKeys is the ascending order: absent < scalars (in Compare's order)
// < objects and arrays, then _id, then input position (which only
// documents with the same ID reach).
func compareKeys(a, b *sortKey) int {
	if c := cmp.Compare(a.rank, b.rank); c != 0 {
		return c
	}
	if c := Compare(a.val, b.val); c != 0 {
		return c
	}
	if c := strings.Compare(a.id, b.id); c != 0 {
		return c
	}
	return cmp.Compare(a.index, b.index)
}

// sortsByID reports whether q orders by document ID alone.
func (q *Query) sortsByID() bool {
	return q.Sort.FieldPath == "" || q.Sort.FieldPath == idField
}

// Apply answers q over docs: it keeps the documents that match, sorts them,
// starts after the one whose ID is q.Seek, skips q.Skip and returns at most
// q.Limit (all if 0). When the order is by _id, the seek position is found
// by comparing IDs, so a page boundary survives the deletion of its last
// document; with another sort field, a seek ID that is not among the
// matching documents gives no results, because its place in the order is
// unknown. Apply does not modify docs; a nil q returns every document in _id
// order.
//
// For _id ordering Apply uses Doc.ID, not the document's "_id" field.
func (q *Query) Apply(docs []Doc) []Doc {
	if q == nil {
		q = &Query{}
	}
	byID := q.sortsByID()
	keys := make([]sortKey, 0, len(docs))
	for i := range docs {
		if q.Match(docs[i].Value) {
			keys = append(keys, q.keyOf(&docs[i], byID, i))
		}
	}
	desc := q.Sort.Desc
	slices.SortFunc(keys, func(a, b sortKey) int {
		if desc {
			return compareKeys(&b, &a)
		}
		return compareKeys(&a, &b)
	})

	start := 0
	if q.Seek != "" {
		start = seekPosition(keys, q.Seek, byID, q.Sort.Desc)
	}
	if q.Skip > len(keys)-start {
		start = len(keys)
	} else {
		start += q.Skip
	}
	end := len(keys)
	if q.Limit > 0 && q.Limit < end-start {
		end = start + q.Limit
	}
	out := make([]Doc, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, docs[keys[i].index])
	}
	return out
}

// seekPosition returns the index of the first key after the document whose
// ID is seek.
func seekPosition(keys []sortKey, seek string, byID, desc bool) int {
	if byID {
		// Keys are in ID order: binary search for the first ID past seek.
		return sort.Search(len(keys), func(i int) bool {
			c := strings.Compare(keys[i].id, seek)
			if desc {
				return c < 0
			}
			return c > 0
		})
	}
	// The last document with that ID: with duplicate IDs (which a store does
	// not produce) results start after all of them.
	pos := -1
	for i := range keys {
		if keys[i].id == seek {
			pos = i
		}
	}
	if pos < 0 {
		return len(keys)
	}
	return pos + 1
}
