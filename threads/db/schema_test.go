package db

import (
	"slices"
	"testing"
	"time"

	"github.com/selfhub/hub/errors"
)

// TestSchemaDrafts checks that schemas of drafts 4 to 2020-12 compile and
// validate, that external references are refused, and that _id must stay
// a string.
func TestSchemaDrafts(t *testing.T) {
	drafts := map[string]string{
		"draft-04":   `{"$schema":"http://json-schema.org/draft-04/schema#","type":"object","properties":{"n":{"type":"integer","maximum":10,"exclusiveMaximum":true}}}`,
		"draft-06":   `{"$schema":"http://json-schema.org/draft-06/schema#","type":"object","properties":{"n":{"type":"integer","exclusiveMaximum":10}}}`,
		"draft-07":   `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"n":{"type":"integer","exclusiveMaximum":10}}}`,
		"2019-09":    `{"$schema":"https://json-schema.org/draft/2019-09/schema","type":"object","properties":{"n":{"type":"integer","exclusiveMaximum":10}}}`,
		"2020-12":    `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"n":{"type":"integer","exclusiveMaximum":10}}}`,
		"no $schema": `{"type":"object","properties":{"n":{"type":"integer","exclusiveMaximum":10}}}`,
	}
	for name, raw := range drafts {
		t.Run(name, func(t *testing.T) {
			s, err := compileSchema("test", []byte(raw), SchemaLimits{}, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.validate("test", map[string]any{"n": 9.0}, time.Now); err != nil {
				t.Fatalf("valid instance refused: %v", err)
			}
			for _, bad := range []map[string]any{{"n": 10.0}, {"n": 1.5}, {"n": "x"}} {
				if err := s.validate("test", bad, time.Now); !errors.Is(errors.Invalid, err) {
					t.Fatalf("%v accepted: %v", bad, err)
				}
			}
		})
	}
	refused := map[string]string{
		"external file reference": `{"$ref":"file:///etc/passwd"}`,
		"external URL reference":  `{"properties":{"a":{"$ref":"https://example.com/s.json"}}}`,
		"_id as a number":         `{"properties":{"_id":{"type":"number"}}}`,
		"not an object":           `[1]`,
		"not JSON":                `{"type":`,
		"unknown type":            `{"type":"strung"}`,
	}
	for name, raw := range refused {
		t.Run(name, func(t *testing.T) {
			if _, err := compileSchema("test", []byte(raw), SchemaLimits{}, false); !errors.Is(errors.Invalid, err) {
				t.Fatalf("accepted: %v", err)
			}
		})
	}
}

// The drafts, by name.
const (
	draft04 = "draft-04"
	draft06 = "draft-06"
	draft07 = "draft-07"
	draft19 = "2019-09"
	draft20 = "2020-12"
	noDraft = "no $schema" // read as draft-07
)

// withDraft returns the schema object whose members are body, with the
// "$schema" of draft (none for noDraft).
func withDraft(draft, body string) string {
	uri := ""
	switch draft {
	case draft04, draft06, draft07:
		uri = "http://json-schema.org/" + draft + "/schema#"
	case draft19, draft20:
		uri = "https://json-schema.org/draft/" + draft + "/schema"
	}
	if uri == "" {
		return "{" + body + "}"
	}
	return `{"$schema":"` + uri + `",` + body + "}"
}

// TestSchemaDraftKeywords checks that "$schema" chooses the draft: each
// keyword below is enforced by the drafts that define it and ignored, as
// an unknown keyword, by those that do not. Were one draft used for every
// schema, one of the two halves of some case would fail.
func TestSchemaDraftKeywords(t *testing.T) {
	cases := []struct {
		keyword  string
		body     string // the schema's members
		good     string // valid under every draft
		bad      string // valid only where the keyword is ignored
		enforced []string
		ignored  []string
	}{
		{
			keyword:  "prefixItems",
			body:     `"properties":{"p":{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}]}}`,
			good:     `{"p":["a",1]}`,
			bad:      `{"p":[1,"a"]}`,
			enforced: []string{draft20},
			ignored:  []string{draft19, draft07, noDraft},
		},
		{
			keyword:  "items as an array (a tuple before 2020-12)",
			body:     `"properties":{"p":{"type":"array","items":[{"type":"string"},{"type":"integer"}]}}`,
			good:     `{"p":["a",1]}`,
			bad:      `{"p":[1,"a"]}`,
			enforced: []string{draft04, draft06, draft07, draft19, noDraft},
		},
		{
			keyword:  "dependentRequired",
			body:     `"dependentRequired":{"card":["billing"]}`,
			good:     `{"card":"c","billing":"b"}`,
			bad:      `{"card":"c"}`,
			enforced: []string{draft19, draft20},
			ignored:  []string{draft07, draft06, noDraft},
		},
		{
			keyword:  "const",
			body:     `"properties":{"v":{"const":1}}`,
			good:     `{"v":1}`,
			bad:      `{"v":2}`,
			enforced: []string{draft06, draft07, draft19, draft20, noDraft},
			ignored:  []string{draft04},
		},
		{
			keyword:  "contains",
			body:     `"properties":{"l":{"type":"array","contains":{"type":"string"}}}`,
			good:     `{"l":[1,"a"]}`,
			bad:      `{"l":[1,2]}`,
			enforced: []string{draft06, draft07, draft19, draft20, noDraft},
			ignored:  []string{draft04},
		},
		{
			keyword:  "if/then",
			body:     `"if":{"properties":{"k":{"const":"a"}},"required":["k"]},"then":{"required":["x"]}`,
			good:     `{"k":"a","x":1}`,
			bad:      `{"k":"a"}`,
			enforced: []string{draft07, draft19, draft20, noDraft},
			ignored:  []string{draft06},
		},
	}
	for _, c := range cases {
		for _, draft := range append(append([]string{}, c.enforced...), c.ignored...) {
			enforced := slices.Contains(c.enforced, draft)
			t.Run(c.keyword+"/"+draft, func(t *testing.T) {
				s, err := compileSchema("test", []byte(withDraft(draft, c.body)), SchemaLimits{}, false)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.validate("test", mustDecode(t, c.good), time.Now); err != nil {
					t.Fatalf("%s refused: %v", c.good, err)
				}
				err = s.validate("test", mustDecode(t, c.bad), time.Now)
				switch {
				case enforced && !errors.Is(errors.Invalid, err):
					t.Fatalf("%s accepted: %s is not enforced (%v)", c.bad, c.keyword, err)
				case !enforced && err != nil:
					t.Fatalf("%s refused: %s is enforced by a draft without it: %v", c.bad, c.keyword, err)
				}
			})
		}
	}
	// 2020-12 replaced the array form of items with prefixItems: such a
	// schema does not match its meta-schema.
	tuple := withDraft(draft20, `"properties":{"p":{"items":[{"type":"string"}]}}`)
	if _, err := compileSchema("test", []byte(tuple), SchemaLimits{}, false); !errors.Is(errors.Invalid, err) {
		t.Errorf("2020-12 schema with an array for items compiled: %v", err)
	}
}

// mustDecode decodes an instance as writes do.
func mustDecode(t *testing.T, raw string) map[string]any {
	t.Helper()
	doc, err := decodeDoc([]byte(raw))
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return doc
}
