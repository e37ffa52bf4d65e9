package query

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/selfhub/hub/errors"
)

// FuzzParse checks, for any input, that Parse either refuses it with
// errors.Invalid or returns a query that validates, survives a round trip
// through MarshalJSON unchanged, plans without error, and gives the same
// answer through its plan as through a full scan.
//
// Run: go test -run '^$' -fuzz FuzzParse -fuzztime 20s ./threads/db/query
// Inputs that found something worth keeping live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/queries.json"); err == nil {
		var s spec
		if err := json.Unmarshal(data, &s); err != nil {
			f.Fatal(err)
		}
		for _, c := range s.Cases {
			f.Add([]byte(c.Query))
		}
	}
	f.Add([]byte(`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":18}},{"fieldPath":"name","operation":0,"value":{"string":"x"}}],"ors":[],"sort":{"fieldPath":"age","desc":true}}`))

	var raws []json.RawMessage
	for _, d := range []string{
		`{"_id":"1","a":1,"b":"x","n":{"c":true}}`,
		`{"_id":"2","a":-0,"b":"x\u0000","n":{"c":2}}`,
		`{"_id":"3","a":"1","b":null,"n":"s"}`,
		`{"_id":"4","b":["x"],"n":{}}`,
		`{"_id":"5","a":1e308,"b":"","n":{"c":"y"}}`,
	} {
		raws = append(raws, json.RawMessage(d))
	}
	docs := decodeDocs(f, raws, false)

	f.Fuzz(func(t *testing.T, data []byte) {
		q, err := Parse(data)
		if err != nil {
			if q != nil || !errors.Is(errors.Invalid, err) {
				t.Fatalf("Parse(%q) = %v, %v; a refusal must be Invalid and return no query", data, q, err)
			}
			return
		}
		if err := q.Validate(); err != nil {
			t.Fatalf("Parse(%q) returned a query that does not validate: %v", data, err)
		}
		b, err := q.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of Parse(%q): %v", data, err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(MarshalJSON(Parse(%q))) = %v; marshaled %s", data, err, b)
		}
		if !reflect.DeepEqual(back, q) {
			t.Fatalf("round trip of %q through %s changed the query:\n %#v\n %#v", data, b, q, back)
		}
		indexes := fieldPaths(q, nil)
		if q.Index != "" {
			indexes = append(indexes, q.Index)
		}
		p, err := q.Plan(indexes)
		if err != nil {
			t.Fatalf("Plan(%q) of %q: %v", indexes, data, err)
		}
		want := ids(q.Apply(docs))
		if got := ids(q.Apply(candidates(docs, p))); !slices.Equal(got, want) {
			t.Fatalf("query %q, plan %+v: through the plan %q, full scan %q", data, p, got, want)
		}
	})
}

// fieldPaths appends every criterion's field path in q to paths.
func fieldPaths(q *Query, paths []string) []string {
	for _, c := range q.Ands {
		paths = append(paths, c.FieldPath)
	}
	for _, o := range q.Ors {
		paths = fieldPaths(o, paths)
	}
	return paths
}
