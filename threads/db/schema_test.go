package db

import (
	"testing"

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
			s, err := compileSchema("test", []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.validate("test", map[string]any{"n": 9.0}); err != nil {
				t.Fatalf("valid instance refused: %v", err)
			}
			for _, bad := range []map[string]any{{"n": 10.0}, {"n": 1.5}, {"n": "x"}} {
				if err := s.validate("test", bad); !errors.Is(errors.Invalid, err) {
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
			if _, err := compileSchema("test", []byte(raw)); !errors.Is(errors.Invalid, err) {
				t.Fatalf("accepted: %v", err)
			}
		})
	}
}
