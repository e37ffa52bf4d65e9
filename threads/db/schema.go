package db

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/selfhub/hub/errors"
)

// schema is a collection's compiled JSON Schema. Drafts 4 to 2020-12 are
// accepted; a schema without "$schema" is read as draft-07, the draft the
// Textile clients' examples use.
type schema struct {
	compiled *jsonschema.Schema // nil: no schema, any object is accepted
}

// noLoader refuses every external reference, so a schema can never make
// hubd read a file or the network ("$ref": "file:///etc/passwd").
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema references are not allowed (%s); inline the definition", url)
}

// compileSchema compiles raw, which may be empty (no schema). A schema that
// is not valid, or that declares _id as anything but a string, is Invalid.
func compileSchema(op errors.Op, raw []byte) (schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return schema{}, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return schema{}, errors.Errorf(op, errors.Invalid, "collection schema is not JSON: %v", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return schema{}, errors.E(op, errors.Invalid, "collection schema must be a JSON object")
	}
	if props, ok := obj["properties"].(map[string]any); ok {
		if id, ok := props["_id"].(map[string]any); ok {
			if t, ok := id["type"]; ok && t != "string" {
				return schema{}, errors.Errorf(op, errors.Invalid, `collection schema declares _id as %v; _id is always a string`, t)
			}
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(noLoader{})
	const loc = "hub:collection-schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return schema{}, errors.Errorf(op, errors.Invalid, "collection schema: %v", err)
	}
	compiled, err := c.Compile(loc)
	if err != nil {
		return schema{}, errors.Errorf(op, errors.Invalid, "collection schema does not compile: %s", oneLine(err))
	}
	return schema{compiled: compiled}, nil
}

// validate checks an instance (decoded JSON) against the schema.
func (s schema) validate(op errors.Op, doc any) error {
	if s.compiled == nil {
		return nil
	}
	if err := s.compiled.Validate(doc); err != nil {
		return errors.Errorf(op, errors.Invalid, "instance does not match the collection schema: %s", oneLine(err))
	}
	return nil
}

// oneLine folds a multi-line validation report into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
