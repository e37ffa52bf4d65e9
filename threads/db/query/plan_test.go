package query

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
)

// crit builds a wire criterion for the plan table.
func crit(path string, op Op, v string) string {
	return fmt.Sprintf(`{"fieldPath":%q,"operation":%d,"value":%s}`, path, op, v)
}

func TestPlan(t *testing.T) {
	num := func(f float64) []byte { return EncodeKey(FloatValue(f)) }
	str := func(s string) []byte { return EncodeKey(StringValue(s)) }
	numStart, numEnd := []byte{tagNumber}, []byte{tagNumber + 1}
	strStart := []byte{tagString}
	full := Plan{Full: true}

	cases := []struct {
		name    string
		query   string
		indexes []string
		want    Plan
		err     string // substring of an Invalid error
	}{
		{name: "no query", query: `{}`, indexes: []string{"age"}, want: full},
		{name: "no indexes", query: `{"ands":[` + crit("age", Eq, `{"float":3}`) + `]}`, want: full},
		{name: "unindexed path", query: `{"ands":[` + crit("age", Eq, `{"float":3}`) + `]}`, indexes: []string{"name"}, want: full},
		{name: "Ne cannot narrow", query: `{"ands":[` + crit("age", Ne, `{"float":3}`) + `]}`, indexes: []string{"age"}, want: full},
		{
			name: "equality", query: `{"ands":[` + crit("age", Eq, `{"float":3}`) + `]}`, indexes: []string{"age"},
			want: Plan{Index: "age", Lower: num(3), LowerInclusive: true, Upper: num(3), UpperInclusive: true},
		},
		{
			name: "Gt starts past every entry of the value", query: `{"ands":[` + crit("age", Gt, `{"float":3}`) + `]}`, indexes: []string{"age"},
			want: Plan{Index: "age", Lower: num(3), LowerInclusive: false, Upper: numEnd, UpperInclusive: false},
		},
		{
			name: "Ge", query: `{"ands":[` + crit("age", Ge, `{"float":3}`) + `]}`, indexes: []string{"age"},
			want: Plan{Index: "age", Lower: num(3), LowerInclusive: true, Upper: numEnd, UpperInclusive: false},
		},
		{
			name: "Lt", query: `{"ands":[` + crit("name", Lt, `{"string":"m"}`) + `]}`, indexes: []string{"name"},
			want: Plan{Index: "name", Lower: strStart, LowerInclusive: true, Upper: str("m"), UpperInclusive: false},
		},
		{
			name: "Le ends past every entry of the value", query: `{"ands":[` + crit("age", Le, `{"float":3}`) + `]}`, indexes: []string{"age"},
			want: Plan{Index: "age", Lower: numStart, LowerInclusive: true, Upper: num(3), UpperInclusive: true},
		},
		{
			name:  "two bounds on one path combine",
			query: `{"ands":[` + crit("age", Ge, `{"float":3}`) + `,` + crit("age", Lt, `{"float":9}`) + `]}`, indexes: []string{"age"},
			want: Plan{Index: "age", Lower: num(3), LowerInclusive: true, Upper: num(9), UpperInclusive: false},
		},
		{
			name:    "equality beats a range",
			query:   `{"ands":[` + crit("age", Ge, `{"float":3}`) + `,` + crit("age", Lt, `{"float":9}`) + `,` + crit("name", Eq, `{"string":"x"}`) + `]}`,
			indexes: []string{"age", "name"},
			want:    Plan{Index: "name", Lower: str("x"), LowerInclusive: true, Upper: str("x"), UpperInclusive: true},
		},
		{
			name:    "a two-sided range beats a one-sided one",
			query:   `{"ands":[` + crit("name", Gt, `{"string":"a"}`) + `,` + crit("age", Gt, `{"float":3}`) + `,` + crit("age", Le, `{"float":9}`) + `]}`,
			indexes: []string{"name", "age"},
			want:    Plan{Index: "age", Lower: num(3), LowerInclusive: false, Upper: num(9), UpperInclusive: true},
		},
		{
			name:    "ties go to the first path in order, whatever the list order",
			query:   `{"ands":[` + crit("b", Eq, `{"float":1}`) + `,` + crit("a", Eq, `{"float":2}`) + `]}`,
			indexes: []string{"b", "a"},
			want:    Plan{Index: "a", Lower: num(2), LowerInclusive: true, Upper: num(2), UpperInclusive: true},
		},
		{
			name:    "a contradiction wins and scans nothing",
			query:   `{"ands":[` + crit("name", Eq, `{"string":"x"}`) + `,` + crit("age", Eq, `{"float":3}`) + `,` + crit("age", Eq, `{"string":"3"}`) + `]}`,
			indexes: []string{"age", "name"},
			want:    Plan{Index: "age", Lower: str("3"), LowerInclusive: true, Upper: str("3"), UpperInclusive: false},
		},
		{
			name:    "ors on the same index scan the hull",
			query:   `{"ors":[{"ands":[` + crit("age", Eq, `{"float":3}`) + `]},{"ands":[` + crit("age", Eq, `{"float":7}`) + `]}]}`,
			indexes: []string{"age"},
			want:    Plan{Index: "age", Lower: num(3), LowerInclusive: true, Upper: num(7), UpperInclusive: true},
		},
		{
			name:    "ands and ors on the same index",
			query:   `{"ands":[` + crit("age", Gt, `{"float":10}`) + `],"ors":[{"ands":[` + crit("age", Eq, `{"float":3}`) + `]}]}`,
			indexes: []string{"age"},
			want:    Plan{Index: "age", Lower: num(3), LowerInclusive: true, Upper: numEnd, UpperInclusive: false},
		},
		{
			name:    "an or branch that does not bound the path forces a full scan",
			query:   `{"ands":[` + crit("age", Eq, `{"float":3}`) + `],"ors":[{"ands":[` + crit("name", Eq, `{"string":"x"}`) + `]}]}`,
			indexes: []string{"age", "name"},
			want:    full,
		},
		{
			name:    "ands without the path beside ors force a full scan",
			query:   `{"ands":[` + crit("name", Eq, `{"string":"x"}`) + `],"ors":[{"ands":[` + crit("age", Eq, `{"float":3}`) + `]}]}`,
			indexes: []string{"age"},
			want:    full,
		},
		{
			name:    "an empty or branch forces a full scan",
			query:   `{"ors":[{"ands":[` + crit("age", Eq, `{"float":3}`) + `]},{}]}`,
			indexes: []string{"age"},
			want:    full,
		},
		{
			name:    "nested ors",
			query:   `{"ors":[{"ands":[` + crit("age", Lt, `{"float":0}`) + `]},{"ors":[{"ands":[` + crit("age", Eq, `{"float":5}`) + `]}]}]}`,
			indexes: []string{"age"},
			want:    Plan{Index: "age", Lower: numStart, LowerInclusive: true, Upper: num(5), UpperInclusive: true},
		},
		{
			name:    "a forced index is used even when another is better",
			query:   `{"ands":[` + crit("age", Gt, `{"float":3}`) + `,` + crit("name", Eq, `{"string":"x"}`) + `],"index":"age"}`,
			indexes: []string{"age", "name"},
			want:    Plan{Index: "age", Lower: num(3), LowerInclusive: false, Upper: numEnd, UpperInclusive: false},
		},
		{
			name:    "a forced index the query does not bound is a full scan",
			query:   `{"ands":[` + crit("name", Eq, `{"string":"x"}`) + `],"index":"age"}`,
			indexes: []string{"age", "name"},
			want:    full,
		},
		{
			name:    "a forced index that does not exist",
			query:   `{"index":"Not.Valid.Path"}`,
			indexes: []string{"name", "age"},
			err:     `index "Not.Valid.Path" does not exist; use one of age, name, or none`,
		},
		{
			name:  "a forced index on a collection without indexes",
			query: `{"index":"age"}`,
			err:   "the collection has no indexes",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := Parse([]byte(c.query))
			if err != nil {
				t.Fatal(err)
			}
			got, err := q.Plan(c.indexes)
			if c.err != "" {
				if !errors.Is(errors.Invalid, err) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Plan error = %v; want Invalid containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Full != c.want.Full || got.Index != c.want.Index ||
				!bytes.Equal(got.Lower, c.want.Lower) || got.LowerInclusive != c.want.LowerInclusive ||
				!bytes.Equal(got.Upper, c.want.Upper) || got.UpperInclusive != c.want.UpperInclusive {
				t.Fatalf("Plan = %+v\n want %+v", got, c.want)
			}
		})
	}
}

func TestPlanRange(t *testing.T) {
	k := EncodeKey(FloatValue(3))
	for _, c := range []struct {
		name       string
		p          Plan
		start, end []byte
	}{
		{"inclusive both", Plan{Lower: k, LowerInclusive: true, Upper: k, UpperInclusive: true}, k, prefixEnd(k)},
		{"exclusive both", Plan{Lower: k, Upper: k}, prefixEnd(k), k},
		{"open", Plan{}, nil, nil},
		{"open below", Plan{Upper: k, UpperInclusive: true}, nil, prefixEnd(k)},
	} {
		start, end := c.p.Range()
		if !bytes.Equal(start, c.start) || !bytes.Equal(end, c.end) || (start == nil) != (c.start == nil) || (end == nil) != (c.end == nil) {
			t.Errorf("%s: Range = %x, %x; want %x, %x", c.name, start, end, c.start, c.end)
		}
	}
}

// randomDoc returns a document whose fields a, b and n.c hold values of
// every kind, or nothing, drawn from small sets so that equal values and
// ties are common.
func randomDoc(r *rand.Rand, id string) map[string]any {
	doc := map[string]any{"_id": id}
	for _, f := range []string{"a", "b"} {
		if v, ok := randomField(r); ok {
			doc[f] = v
		}
	}
	switch r.IntN(4) {
	case 0:
	case 1:
		doc["n"] = "not an object"
	default:
		n := map[string]any{}
		if v, ok := randomField(r); ok {
			n["c"] = v
		}
		doc["n"] = n
	}
	return doc
}

var (
	sampleNumbers = []float64{math.Inf(-1), -1e300, -2.5, -1, math.Copysign(0, -1), 0, 1, 2.5, 3, 1e300, math.Inf(1)}
	sampleStrings = []string{"", "a", "a\x00", "a\x00b", "ab", "b", "\xff", "\x00"}
)

func randomField(r *rand.Rand) (any, bool) {
	switch r.IntN(8) {
	case 0:
		return nil, false
	case 1:
		return nil, true // JSON null
	case 2:
		return r.IntN(2) == 0, true
	case 3, 4:
		return sampleNumbers[r.IntN(len(sampleNumbers))], true
	case 5, 6:
		return sampleStrings[r.IntN(len(sampleStrings))], true
	}
	return map[string]any{"x": 1.0}, true
}

func randomValue(r *rand.Rand) Value {
	switch r.IntN(5) {
	case 0:
		return BoolValue(r.IntN(2) == 0)
	case 1, 2:
		return FloatValue(sampleNumbers[r.IntN(len(sampleNumbers))])
	}
	return StringValue(sampleStrings[r.IntN(len(sampleStrings))])
}

var randomPaths = []string{"a", "b", "n.c", "n"}

func randomQuery(r *rand.Rand, depth int) *Query {
	q := &Query{}
	for range r.IntN(4) {
		q.Ands = append(q.Ands, Criterion{
			FieldPath: randomPaths[r.IntN(len(randomPaths))],
			Op:        Op(r.IntN(6)),
			Value:     randomValue(r),
		})
	}
	if depth < 3 && r.IntN(3) == 0 {
		for range 1 + r.IntN(3) {
			q.Ors = append(q.Ors, randomQuery(r, depth+1))
		}
	}
	return q
}

// TestPlanProperty checks on random documents and queries that answering
// through any plan, over a simulated index, gives exactly what a full scan
// gives: the plan only narrows.
func TestPlanProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	narrowed := 0
	for iter := range 3000 {
		docs := make([]Doc, 30)
		for i := range docs {
			id := fmt.Sprintf("id%02d", r.IntN(100)) // unsorted, possibly repeated
			docs[i] = Doc{ID: id, Value: randomDoc(r, id)}
		}
		q := randomQuery(r, 1)
		if r.IntN(2) == 0 {
			q.Sort = Sort{FieldPath: randomPaths[r.IntN(len(randomPaths))], Desc: r.IntN(2) == 0}
		}
		if r.IntN(3) == 0 {
			q.Seek = docs[r.IntN(len(docs))].ID
		}
		q.Skip, q.Limit = r.IntN(3), r.IntN(5)
		indexes := slices.DeleteFunc(slices.Clone(randomPaths), func(string) bool { return r.IntN(2) == 0 })
		if len(indexes) > 0 && r.IntN(4) == 0 {
			q.Index = indexes[r.IntN(len(indexes))]
		}

		want := ids(q.Apply(docs))
		p, err := q.Plan(indexes)
		if err != nil {
			t.Fatalf("iteration %d: Plan: %v", iter, err)
		}
		if !p.Full {
			narrowed++
		}
		if got := ids(q.Apply(candidates(docs, p))); !slices.Equal(got, want) {
			b, _ := q.MarshalJSON()
			t.Fatalf("iteration %d: query %s, indexes %q, plan %+v:\n through the plan %q\n full scan        %q",
				iter, b, indexes, p, got, want)
		}
	}
	if narrowed < 500 {
		t.Errorf("only %d of 3000 random queries used an index; the test is not exercising plans", narrowed)
	}
}
