package query

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
)

// spec is testdata/queries.json: documents, and queries in wire form with
// the exact ordered _ids they return or the error Parse gives.
type spec struct {
	Documents []json.RawMessage `json:"documents"`
	Cases     []struct {
		Name  string          `json:"name"`
		Query json.RawMessage `json:"query"`
		Want  []string        `json:"want"`
		Error string          `json:"error"`
	} `json:"cases"`
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	data, err := os.ReadFile("testdata/queries.json")
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("testdata/queries.json: %v", err)
	}
	return s
}

// decodeDocs decodes documents as the DB might: with plain float64
// numbers, or with json.Number when useNumber is set.
func decodeDocs(t testing.TB, raws []json.RawMessage, useNumber bool) []Doc {
	t.Helper()
	docs := make([]Doc, len(raws))
	for i, raw := range raws {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if useNumber {
			dec.UseNumber()
		}
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		docs[i] = Doc{ID: m["_id"].(string), Value: m, Raw: raw}
	}
	return docs
}

func ids(docs []Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.ID
	}
	return out
}

// specPaths are the field paths the spec's documents use, each of which
// the index tests put an index on.
var specPaths = []string{"_id", "active", "age", "city", "meta", "meta.rating", "name", "score"}

func TestSpec(t *testing.T) {
	s := loadSpec(t)
	for _, useNumber := range []bool{false, true} {
		docs := decodeDocs(t, s.Documents, useNumber)
		for _, c := range s.Cases {
			name := c.Name
			if useNumber {
				name += "/UseNumber"
			}
			t.Run(name, func(t *testing.T) {
				q, err := Parse(c.Query)
				if c.Error != "" {
					if err == nil {
						t.Fatalf("Parse(%s) succeeded; want error containing %q", c.Query, c.Error)
					}
					if !errors.Is(errors.Invalid, err) {
						t.Errorf("Parse error kind = %v; want Invalid", errors.KindOf(err))
					}
					if !strings.Contains(err.Error(), c.Error) {
						t.Errorf("Parse error = %q; want it to contain %q", err, c.Error)
					}
					return
				}
				if err != nil {
					t.Fatalf("Parse(%s): %v", c.Query, err)
				}
				want := c.Want
				if want == nil {
					want = []string{}
				}
				if got := ids(q.Apply(docs)); !slices.Equal(got, want) {
					t.Fatalf("Apply = %q; want %q", got, want)
				}
				// The same answer through every index the planner might use,
				// chosen freely or forced.
				for _, p := range specPaths {
					indexes := []string{p}
					if q.Index != "" {
						indexes = append(indexes, q.Index)
					}
					checkPlanned(t, q, docs, indexes, want)
					forced := *q
					forced.Index = p
					checkPlanned(t, &forced, docs, []string{p}, want)
				}
				all := slices.Clone(specPaths)
				if q.Index != "" && !slices.Contains(all, q.Index) {
					all = append(all, q.Index)
				}
				checkPlanned(t, q, docs, all, want)
			})
		}
	}
}

// checkPlanned answers q through Plan over a simulated index and compares
// with want.
func checkPlanned(t *testing.T, q *Query, docs []Doc, indexes []string, want []string) {
	t.Helper()
	p, err := q.Plan(indexes)
	if err != nil {
		t.Fatalf("Plan(%q): %v", indexes, err)
	}
	got := ids(q.Apply(candidates(docs, p)))
	if !slices.Equal(got, want) {
		t.Fatalf("with indexes %q, plan %+v: Apply = %q; want %q", indexes, p, got, want)
	}
}

// candidates simulates the DB: an ordered index on p.Index whose entries
// are EncodeKey(value) followed by the document ID, scanned over the
// plan's Range.
func candidates(docs []Doc, p Plan) []Doc {
	if p.Full {
		return docs
	}
	type entry struct {
		key []byte
		doc Doc
	}
	var index []entry
	for _, d := range docs {
		raw, ok := Lookup(d.Value, p.Index)
		if !ok {
			continue
		}
		v, ok := ValueOf(raw)
		if !ok {
			continue
		}
		index = append(index, entry{append(EncodeKey(v), d.ID...), d})
	}
	sort.Slice(index, func(i, j int) bool { return bytes.Compare(index[i].key, index[j].key) < 0 })
	start, end := p.Range()
	i := sort.Search(len(index), func(i int) bool { return bytes.Compare(index[i].key, start) >= 0 })
	var out []Doc
	for ; i < len(index) && (end == nil || bytes.Compare(index[i].key, end) < 0); i++ {
		out = append(out, index[i].doc)
	}
	return out
}
