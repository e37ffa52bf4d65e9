package query

import (
	"bytes"
	"slices"
	"strings"

	"github.com/selfhub/hub/errors"
)

// Plan says where the candidates for a query are. Either Full is set and
// every document is a candidate, or the candidates are the documents whose
// entry in the index on field path Index lies between Lower and Upper.
//
// Index entries are keyed by EncodeKey(value), possibly followed by more
// bytes such as the document ID, and the bounds are compared with those
// keys (bytes.Compare). A bound is either an encoded value or the edge of
// one type's keys. An inclusive bound takes every entry that begins with
// it, an exclusive one none of them: since no encoded value is a prefix of
// another, this is the same as comparing values. A nil bound is open. Range
// turns the bounds into a half-open key range for an iterator. A range that
// holds nothing is Lower == Upper, LowerInclusive, !UpperInclusive.
//
// The range only narrows. The caller must still apply the query (Match, or
// Apply) to every candidate; the results are then the same as a full scan.
type Plan struct {
	Full           bool
	Index          string
	Lower, Upper   []byte
	LowerInclusive bool
	UpperInclusive bool
}

// Range returns the plan's bounds as a half-open range of index keys,
// start <= key < end, ready for an iterator's lower and upper bounds once
// the index's own prefix is put before them. A nil start or end is open.
func (p Plan) Range() (start, end []byte) {
	start, end = p.Lower, p.Upper
	if start != nil && !p.LowerInclusive {
		start = prefixEnd(start)
	}
	if end != nil && p.UpperInclusive {
		end = prefixEnd(end)
	}
	return start, end
}

// Plan chooses how to find the candidates for q, given the field paths that
// have an index. Each index must hold one entry per document whose field
// is a string, number or bool (as ValueOf decides), keyed by EncodeKey of
// that value; documents where the field is absent, null, an object or an
// array have no entry.
//
// Plan uses only criteria that force a document to have an entry: Eq, Gt,
// Ge, Lt and Le. Among the indexed paths it prefers one whose criteria
// contradict each other (nothing matches), then an equality, then a range
// bounded on both sides, then a one-sided range; ties go to the path that
// sorts first. Several criteria on the same path narrow the range together.
// With ors, an index is usable only if every alternative (the ands, when
// there are any, and each of the ors) bounds the same path; the plan then
// scans the smallest range covering them all. Ne and unindexed paths do not
// narrow anything, and a query that nothing narrows gets a full scan.
//
// When q.Index names an index, Plan uses that index, and errors.Invalid if
// it is not among indexes. If the query does not bound that path, the index
// cannot be used without losing the documents that have no entry in it, so
// Plan answers with a full scan.
func (q *Query) Plan(indexes []string) (Plan, error) {
	if q == nil {
		return Plan{Full: true}, nil
	}
	if q.Index != "" {
		if !slices.Contains(indexes, q.Index) {
			return Plan{}, errors.Errorf(opPlan, errors.Invalid,
				"index %q does not exist; %s", q.Index, describeIndexes(indexes))
		}
		s, ok := q.spanFor(q.Index)
		if !ok {
			return Plan{Full: true}, nil
		}
		return s.plan(q.Index), nil
	}
	paths := slices.Clone(indexes)
	slices.Sort(paths)
	paths = slices.Compact(paths)
	best, bestScore := -1, 0
	var bestSpan span
	for i, p := range paths {
		s, ok := q.spanFor(p)
		if !ok {
			continue
		}
		if sc := s.score(); sc > bestScore {
			best, bestScore, bestSpan = i, sc, s
		}
	}
	if best < 0 {
		return Plan{Full: true}, nil
	}
	return bestSpan.plan(paths[best]), nil
}

func describeIndexes(indexes []string) string {
	if len(indexes) == 0 {
		return "the collection has no indexes; drop the index from the query or add one to the collection"
	}
	sorted := slices.Clone(indexes)
	slices.Sort(sorted)
	return "use one of " + strings.Join(sorted, ", ") + ", or none"
}

// span is a range of index keys with both its bounds as Plan gives them
// (lo, hi and their inclusiveness) and as a half-open range [start, end),
// which is what intersection and hull compare. point, lower and upper record the
// constraints that produced it, for choosing among indexes.
type span struct {
	lo, hi         []byte
	loIncl, hiIncl bool
	start, end     []byte
	point          bool // every key in the span encodes one value
	lower, upper   bool // bounded below / above within its type
}

func newSpan(lo []byte, loIncl bool, hi []byte, hiIncl bool) span {
	s := span{lo: lo, hi: hi, loIncl: loIncl, hiIncl: hiIncl, start: lo, end: hi}
	if !loIncl {
		s.start = prefixEnd(lo)
	}
	if hiIncl {
		s.end = prefixEnd(hi)
	}
	return s
}

func (s span) empty() bool { return bytes.Compare(s.start, s.end) >= 0 }

func (s span) score() int {
	switch {
	case s.empty():
		return 4
	case s.point:
		return 3
	case s.lower && s.upper:
		return 2
	}
	return 1
}

func (s span) plan(index string) Plan {
	if s.empty() {
		return Plan{Index: index, Lower: s.start, LowerInclusive: true, Upper: s.start}
	}
	return Plan{Index: index, Lower: s.lo, LowerInclusive: s.loIncl, Upper: s.hi, UpperInclusive: s.hiIncl}
}

// criterionSpan is the range of keys of the values that satisfy c, or false
// if c can hold for documents without an entry (Ne).
func criterionSpan(c *Criterion) (span, bool) {
	if c.Value.kind == KindNone {
		return span{}, false
	}
	k := EncodeKey(c.Value)
	typeStart, typeEnd := []byte{k[0]}, []byte{k[0] + 1}
	var s span
	switch c.Op {
	case Eq:
		s = newSpan(k, true, k, true)
		s.point, s.lower, s.upper = true, true, true
	case Gt:
		s = newSpan(k, false, typeEnd, false)
		s.lower = true
	case Ge:
		s = newSpan(k, true, typeEnd, false)
		s.lower = true
	case Lt:
		s = newSpan(typeStart, true, k, false)
		s.upper = true
	case Le:
		s = newSpan(typeStart, true, k, true)
		s.upper = true
	default:
		return span{}, false
	}
	return s, true
}

// setLower and setUpper replace one bound of s with that of o.
func (s *span) setLower(o span) { s.lo, s.loIncl, s.start = o.lo, o.loIncl, o.start }
func (s *span) setUpper(o span) { s.hi, s.hiIncl, s.end = o.hi, o.hiIncl, o.end }

// intersect is the range of keys in both a and b.
func intersect(a, b span) span {
	s := a
	s.point, s.lower, s.upper = a.point || b.point, a.lower || b.lower, a.upper || b.upper
	if bytes.Compare(b.start, s.start) > 0 {
		s.setLower(b)
	}
	if bytes.Compare(b.end, s.end) < 0 {
		s.setUpper(b)
	}
	return s
}

// hull is the smallest range holding both a and b.
func hull(a, b span) span {
	switch {
	case a.empty():
		return b
	case b.empty():
		return a
	}
	s := a
	s.point = a.point && b.point && bytes.Equal(a.start, b.start)
	s.lower, s.upper = a.lower && b.lower, a.upper && b.upper
	if bytes.Compare(b.start, s.start) < 0 {
		s.setLower(b)
	}
	if bytes.Compare(b.end, s.end) > 0 {
		s.setUpper(b)
	}
	return s
}

// spanFor returns a range of keys on path that holds the entry of every
// document q matches, or false if q can match a document without
// constraining path.
func (q *Query) spanFor(path string) (span, bool) {
	if q == nil {
		return span{}, false
	}
	var ands span
	bounded := false
	for i := range q.Ands {
		c := &q.Ands[i]
		if c.FieldPath != path {
			continue
		}
		cs, ok := criterionSpan(c)
		if !ok {
			continue
		}
		if bounded {
			ands = intersect(ands, cs)
		} else {
			ands, bounded = cs, true
		}
	}
	if len(q.Ors) == 0 {
		return ands, bounded
	}
	// A document matches through the ands (when there are any) or through
	// one of the ors: every one of those must bound path.
	all, have := span{}, false
	if len(q.Ands) > 0 {
		if !bounded {
			return span{}, false
		}
		all, have = ands, true
	}
	for _, o := range q.Ors {
		os, ok := o.spanFor(path)
		if !ok {
			return span{}, false
		}
		if have {
			all = hull(all, os)
		} else {
			all, have = os, true
		}
	}
	return all, true
}
