package db

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub/errors"
)

// The exponential schema of the finding: two branches of allOf recurse
// into the same property, so every level doubles the work.
const exponentialSchema = `{"type":"object","allOf":[{"properties":{"a":{"$ref":"#"}}},{"properties":{"a":{"$ref":"#"}}}]}`

// treeSchema is legitimately recursive: a node's children are nodes.
const treeSchema = `{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}},"required":["name"]}`

// TestSchemaCost checks which schemas are bounded and how many subschemas
// each may apply to one value.
func TestSchemaCost(t *testing.T) {
	accepted := []struct {
		name     string
		schema   string
		perValue int64
	}{
		{"flat", `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`, 1},
		{"tree", treeSchema, 2},
		{"binary tree", `{"type":"object","properties":{"left":{"$ref":"#"},"right":{"$ref":"#"},"v":{"type":"number"}}}`, 2},
		{"any JSON value", `{"$ref":"#/definitions/v","definitions":{"v":{"anyOf":[{"type":"object","additionalProperties":{"$ref":"#/definitions/v"}},{"type":"array","items":{"$ref":"#/definitions/v"}},{"type":["string","number","boolean","null"]}]}}}`, 5},
		{"allOf without recursion", `{"allOf":[{"required":["a"]},{"properties":{"a":{"type":"string"}}}]}`, 3},
		{"draft-07 $ref hides its siblings", `{"$ref":"#/definitions/a","allOf":[{"$ref":"#"}],"definitions":{"a":{"type":"object"}}}`, 2},
		{"draft-07 meta-schema", `{"properties":{"s":{"$ref":"http://json-schema.org/draft-07/schema#"}}}`, 5},
		{"2019-09 $recursiveRef with one anchor", `{"$schema":"https://json-schema.org/draft/2019-09/schema","$recursiveAnchor":true,"properties":{"k":{"items":{"$recursiveRef":"#"}}}}`, 2},
		{"2020-12 $dynamicRef with one anchor", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$dynamicAnchor":"node","type":"object","properties":{"kids":{"type":"array","items":{"$dynamicRef":"#node"}}}}`, 2},
	}
	for _, c := range accepted {
		t.Run(c.name, func(t *testing.T) {
			s, err := compileSchema("test", []byte(c.schema), SchemaLimits{}, false)
			if err != nil {
				t.Fatal(err)
			}
			if s.perValue != c.perValue {
				t.Errorf("perValue = %d, want %d", s.perValue, c.perValue)
			}
		})
	}
	refused := []struct {
		name   string
		schema string
		why    string // in the message
	}{
		{"exponential recursion", exponentialSchema, "passes through more than one branch"},
		{"recursion through anyOf and properties", `{"anyOf":[{"properties":{"a":{"$ref":"#"}}}],"properties":{"a":{"$ref":"#"}}}`, "passes through more than one branch"},
		{"growing by one per level", `{"properties":{"a":{"$ref":"#"}},"patternProperties":{"^":{"$ref":"#/definitions/x"}},"definitions":{"x":{"patternProperties":{"^":{"$ref":"#/definitions/x"}}}}}`, "keep changing with the instance's depth"},
		{"a $ref cycle on one value", `{"allOf":[{"$ref":"#"}]}`, "applies itself to the value"},
		{"diamonds without recursion", diamonds(24), "applied more than"},
		{"2020-12 $dynamicRef with two anchors", `{"$schema":"https://json-schema.org/draft/2020-12/schema","$dynamicAnchor":"node","properties":{"kids":{"items":{"$dynamicRef":"#node"}}},"$defs":{"x":{"$id":"urn:hub:x","$dynamicAnchor":"node"}}}`, "may resolve to any of the schemas"},
		{"2020-12 meta-schema", `{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"s":{"$ref":"https://json-schema.org/draft/2020-12/schema"}}}`, "resolves among schemas of another document"},
		{"too large", `{"description":"` + strings.Repeat("x", DefaultSchemaMaxSize) + `"}`, "bytes; this hub's limit is"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			_, err := compileSchema("test", []byte(c.schema), SchemaLimits{}, false)
			if !errors.Is(errors.Invalid, err) || !strings.Contains(err.Error(), c.why) {
				t.Fatalf("got %v, want Invalid saying %q", err, c.why)
			}
		})
	}
}

// diamonds is a schema of n levels, each applying the next level twice
// to the same value: 2^n subschema checks per value, without recursion.
func diamonds(n int) string {
	var b strings.Builder
	b.WriteString(`{"$ref":"#/definitions/d0","definitions":{`)
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		next := `{"type":"object"}`
		if i < n-1 {
			next = `{"$ref":"#/definitions/d` + strconv.Itoa(i+1) + `"}`
		}
		b.WriteString(`"d` + strconv.Itoa(i) + `":{"allOf":[` + next + `,` + next + `]}`)
	}
	b.WriteString("}}")
	return b.String()
}

// deep returns the instance {"a":{"a":…{"a":leaf}…}} nested n deep.
func deep(n int, leaf string) string {
	return strings.Repeat(`{"a":`, n) + leaf + strings.Repeat(`}`, n)
}

// TestSchemaValidationBounded checks the write-time side: a recursive
// schema still validates, a failure's message is bounded however many
// causes it has, an instance whose checks would pass the limit is refused
// unchecked, and a stored schema over the limits refuses writes.
func TestSchemaValidationBounded(t *testing.T) {
	tree, err := compileSchema("test", []byte(treeSchema), SchemaLimits{}, false)
	if err != nil {
		t.Fatal(err)
	}
	good := `{"name":"r","children":[{"name":"a","children":[{"name":"b"}]},{"name":"c"}]}`
	if err := tree.validate("test", mustDecode(t, good), time.Now); err != nil {
		t.Errorf("valid tree refused: %v", err)
	}
	bad := `{"name":"r","children":[{"name":"a","children":[{"children":[]}]}]}`
	err = tree.validate("test", mustDecode(t, bad), time.Now)
	if !errors.Is(errors.Invalid, err) || !strings.Contains(err.Error(), "/children/0/children/0") {
		t.Errorf("tree without a name: %v, want Invalid naming /children/0/children/0", err)
	}

	// Every one of 2000 properties fails: the message keeps the first few.
	strs, err := compileSchema("test", []byte(`{"additionalProperties":{"type":"string","maxLength":1}}`), SchemaLimits{}, false)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`{"p0":"` + strings.Repeat("x", 5000) + `"`)
	for i := 1; i < 2000; i++ {
		b.WriteString(`,"p` + strconv.Itoa(i) + `":1`)
	}
	b.WriteString("}")
	err = strs.validate("test", mustDecode(t, b.String()), time.Now)
	if !errors.Is(errors.Invalid, err) || !strings.Contains(err.Error(), "and more") {
		t.Fatalf("got %v, want Invalid with its causes cut short", err)
	}
	if n := len(err.Error()); n > 2<<10 {
		t.Errorf("message is %d bytes, want at most 2 KiB", n)
	}

	// A schema with 2000 keywords of the wrong type: its refusal is
	// as short as a failed write's.
	var bad2000 strings.Builder
	bad2000.WriteString(`{"properties":{"p0":{"type":5}`)
	for i := 1; i < 2000; i++ {
		bad2000.WriteString(`,"p` + strconv.Itoa(i) + `":{"minLength":"x"}`)
	}
	bad2000.WriteString("}}")
	_, err = compileSchema("test", []byte(bad2000.String()), SchemaLimits{}, false)
	if !errors.Is(errors.Invalid, err) || !strings.Contains(err.Error(), "meta-schema") || len(err.Error()) > 2<<10 {
		t.Errorf("a schema failing its meta-schema 2000 ways: %d bytes: %.300v, want Invalid in at most 2 KiB", len(errString(err)), err)
	}

	small := SchemaLimits{MaxWork: 1000}
	capped, err := compileSchema("test", []byte(treeSchema), small, false)
	if err != nil {
		t.Fatal(err)
	}
	wide := `{"name":"r","children":[` + strings.Repeat(`{"name":"x"},`, 400) + `{"name":"y"}]}`
	if err := capped.validate("test", mustDecode(t, wide), time.Now); !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "over this hub's limit of 1000") {
		t.Errorf("instance over the work limit: %v, want Exhausted", err)
	}

	// A deep chain: few checks, but each failed one copies a long path.
	chain, err := compileSchema("test", []byte(`{"type":"object","properties":{"a":{"$ref":"#"}}}`), SchemaLimits{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.validate("test", mustDecode(t, deep(100, "{}")), time.Now); err != nil {
		t.Errorf("a chain 100 deep refused: %v", err)
	}
	if err := chain.validate("test", mustDecode(t, deep(5000, "1")), time.Now); !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "shallower") {
		t.Errorf("a chain 5000 deep: %v, want Exhausted", err)
	}

	// A schema stored before the limits were lowered: its collection
	// loads, and its writes are refused with what to do.
	stored, err := compileSchema("test", []byte(exponentialSchema), small, true)
	if err != nil {
		t.Fatalf("stored schema over the limits does not load: %v", err)
	}
	if err := stored.validate("test", mustDecode(t, deep(18, "1")), time.Now); !errors.Is(errors.FailedPrecondition, err) || !strings.Contains(err.Error(), "update the collection's schema") {
		t.Errorf("write under a stored unbounded schema: %v, want FailedPrecondition", err)
	}
}

// FuzzSchema checks (schema, instance) pairs: compiling and validating
// never panic, refusals are Invalid, the checks validation makes (counted
// by the deadline's keyword in every subschema, under a clock that stands
// still) stay within the static bound,
// which stays under the work limit (a small one here), and failure
// messages stay short.
func FuzzSchema(f *testing.F) {
	f.Add(exponentialSchema, deep(20, "1"))
	f.Add(treeSchema, `{"name":"r","children":[{"name":"a","children":[{"children":[]}]}]}`)
	f.Add(diamonds(12), `{"x":1}`)
	f.Add(`{"$schema":"https://json-schema.org/draft/2020-12/schema","$dynamicAnchor":"n","properties":{"k":{"items":{"$dynamicRef":"#n"}}}}`, `{"k":[{"k":[{}]}]}`)
	f.Add(`{"additionalProperties":{"anyOf":[{"type":"string"},{"$ref":"#"}]},"patternProperties":{"^a":{"not":{"$ref":"#"}}}}`, `{"a":{"b":{"a":2}},"c":[1]}`)
	f.Add(`{"if":{"properties":{"a":{"const":1}}},"then":{"properties":{"b":{"$ref":"#"}}},"else":{"properties":{"b":{"$ref":"#"}}}}`, deep(30, `{"b":1}`))
	f.Add(`{"items":[{"$ref":"#"},{"$ref":"#"}],"additionalItems":{"$ref":"#"},"contains":{"$ref":"#"}}`, `{"x":[[[]],[]]}`)
	f.Add(`{"$ref":"#/definitions/v","definitions":{"v":{"anyOf":[{"type":"object","additionalProperties":{"$ref":"#/definitions/v"}},{"type":"array","items":{"$ref":"#/definitions/v"}},{"type":["string","number"]}]}}}`, `{"a":[1,{"b":["x",[2]]}],"c":{"d":{}}}`)
	f.Add(`{"properties":{"left":{"$ref":"#"},"right":{"$ref":"#"},"v":{"type":"number"}}}`, `{"v":1,"left":{"v":2,"right":{"v":3,"left":{}}},"right":{"v":"x"}}`)
	f.Add(`{"properties":{"s":{"$ref":"http://json-schema.org/draft-07/schema#"}}}`, `{"s":{"type":"object","properties":{"a":{"items":[{"type":"string"}]}},"allOf":[{"not":{}}]}}`)
	f.Add(`{"$schema":"https://json-schema.org/draft/2020-12/schema","properties":{"p":{"prefixItems":[{"$ref":"#"}],"items":{"$ref":"#"},"contains":{"type":"object"},"unevaluatedItems":false}},"unevaluatedProperties":{"type":"string"}}`, `{"p":[{"p":[{}]},{"q":"x"}],"z":"s"}`)
	f.Add(`{"type":"object","properties":{"a":{"$ref":"#"}}}`, deep(3000, "1"))
	lim := SchemaLimits{MaxWork: 4000}
	stopped := func() time.Time { return time.Time{} }
	f.Fuzz(func(t *testing.T, raw, instance string) {
		s, err := compileSchema("fuzz", []byte(raw), lim, false)
		if err != nil {
			if !errors.Is(errors.Invalid, err) {
				t.Fatalf("schema refused with a kind other than Invalid: %v", err)
			}
			return
		}
		if s.compiled != nil && (s.perValue < 1 || s.perValue > int64(lim.MaxWork)) {
			t.Fatalf("perValue %d outside [1, %d]", s.perValue, lim.MaxWork)
		}
		doc, err := decodeDoc([]byte(instance))
		if err != nil {
			return
		}
		err = s.validate("fuzz", doc, stopped)
		if err != nil && !errors.Is(errors.Invalid, err) && !errors.Is(errors.Exhausted, err) {
			t.Fatalf("write refused with a kind other than Invalid or Exhausted: %v", err)
		}
		if s.compiled != nil && !errors.Is(errors.Exhausted, err) {
			values, _ := instanceWeight(doc)
			if n := s.deadline.checks; n > s.perValue*values {
				t.Fatalf("validation made %d checks; the static bound is %d", n, s.perValue*values)
			}
		}
		if err != nil && len(err.Error()) > 2<<10 {
			t.Fatalf("message of %d bytes: %.200s…", len(err.Error()), err)
		}
	})
}

// errString is err's message, or "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
