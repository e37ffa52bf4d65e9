// Package query is ThreadDB's query language: the wire form the Textile
// clients send (queryJSON), its evaluation against JSON documents, and the
// choice of an index to narrow a scan. It is pure: it does no I/O, holds no
// state, and does not know how documents or index entries are stored.
//
// # Wire form
//
// A query travels as JSON, as @textile/threads-client builds it:
//
//	{"ands": [{"fieldPath": "age", "operation": 4, "value": {"float": 18}}],
//	 "ors": [query…], "sort": {"fieldPath": "age", "desc": true},
//	 "seek": "<_id>", "limit": 10, "skip": 0, "index": "age"}
//
// Every key is optional; key names match case-insensitively (the Go server
// and the Go client used encoding/json without tags, so "FieldPath" is as
// good as "fieldPath"), unknown keys are ignored, and a JSON null is the
// same as an absent key. An empty input, null and {} match every document.
//
// # Matching
//
// A document matches a query when
//
//   - the query has no ors, and every criterion in ands holds (so an empty
//     query matches everything); or
//   - the query has ors, and either ands is not empty and all of it holds, or
//     at least one of the ors sub-queries matches.
//
// This is the client's documented contract: Query.or "concatenates a new
// condition that is sufficient for an instance to satisfy, independent of
// the current Query … (a And b) Or c", and the original server's tests
// expect Where(x).Eq(1).Or(Where(x).Eq(3)) to return both documents. The
// original server also let a query with no ands and some ors match every
// document, because an empty conjunction is true; here a query whose only
// conditions are ors matches what the ors match.
//
// A criterion names a field by a dot-separated path into nested objects
// ("meta.rating"); arrays are not traversed, and a key that contains a dot
// cannot be named. A field that is missing, or holds JSON null, is absent.
// Values compare only with values of their own type: strings by their
// bytes, numbers as float64, false before true. Eq, Gt, Lt, Ge and Le are
// false when the field is absent, holds an object or array, or holds a value
// of another type than the criterion's; Ne is true in those cases, so Ne is
// exactly the negation of Eq.
//
// # Results
//
// Query.Apply filters, then sorts (by the sort field; absent fields first in
// ascending order; ties broken by _id, so the order is total and a
// descending sort is exactly the reverse of the ascending one; no sort
// field means _id order), then seeks (starts after the document whose _id
// is seek), then skips, then limits (0 means no limit). The query's index
// never changes the results.
//
// Documents are JSON objects as encoding/json decodes them into
// map[string]any, with or without Decoder.UseNumber: numbers may be float64
// or json.Number, and both compare as float64.
//
// # Indexes
//
// EncodeKey gives each indexable value (string, number, bool) an
// order-preserving byte form, and Query.Plan chooses an index and a key range
// to scan. A plan only narrows: the caller still applies the whole query to
// every candidate, so results never depend on the plan.
package query

import "github.com/selfhub/hub/errors"

// Op is a comparison operation. The numbers are those of the client's
// ComparisonJSON enum and travel on the wire.
type Op int

// The operations. The JavaScript client @textile/threads-client 2.3.4 sends
// Ne (1), not Gt, from Criterion.gt(); a server cannot tell the two apart,
// so such a query means "not equal", as it always did.
const (
	Eq Op = 0 // field == value
	Ne Op = 1 // field != value, or the field is absent or of another type
	Gt Op = 2 // field > value
	Lt Op = 3 // field < value
	Ge Op = 4 // field >= value
	Le Op = 5 // field <= value
)

// opNames holds the operations' two-letter names in wire order.
const opNames = "EqNeGtLtGeLe"

// valid reports whether op is one of the six operations.
func (op Op) valid() bool { return op >= Eq && op <= Le }

// String returns the operation's name, such as "Ge".
func (op Op) String() string {
	if op.valid() {
		return opNames[2*op : 2*op+2]
	}
	return "Op(" + itoa(int64(op)) + ")"
}

// allowedOps is the list of operations for error messages.
const allowedOps = "Eq=0, Ne=1, Gt=2, Lt=3, Ge=4, Le=5"

// Criterion is one condition: the value at FieldPath compared with Value.
type Criterion struct {
	FieldPath string // dot-separated path, such as "meta.rating"
	Op        Op
	Value     Value
}

// Sort orders results by the value at FieldPath. An empty FieldPath, or
// "_id", orders by document ID.
type Sort struct {
	FieldPath string
	Desc      bool
}

// Query is a parsed query. The zero Query, and a nil *Query, match every
// document and return them in ascending _id order.
type Query struct {
	Ands  []Criterion // all must hold (see the package comment for how Ors combine)
	Ors   []*Query    // alternatives, each sufficient on its own
	Sort  Sort
	Seek  string // start after the document with this _id; "" for none
	Limit int    // at most this many results; 0 for no limit
	Skip  int    // leave out this many results after seeking
	Index string // the field path of an index the caller asks to use; "" to let Plan choose
}

// Doc is a document given to Apply: its ID, its decoded JSON, and whatever
// bytes the caller wants back with it (usually the stored JSON).
type Doc struct {
	ID    string
	Value map[string]any
	Raw   []byte
}

// Limits on what Parse accepts, so that a query costs bounded memory and
// stack however it is written.
const (
	// MaxSize is the largest query, in bytes, that Parse accepts. A query
	// that lists a thousand _ids in ors is about 100 KB.
	MaxSize = 1 << 20
	// MaxDepth is how deeply ors may nest: a query with ors whose members
	// have ors is depth 2.
	MaxDepth = 16
)

// idField is the field that holds a document's ID.
const idField = "_id"

// The operations named in errors.
const (
	opParse    errors.Op = "query.Parse"
	opValidate errors.Op = "query.Validate"
	opMarshal  errors.Op = "query.MarshalJSON"
	opPlan     errors.Op = "query.Plan"
)
