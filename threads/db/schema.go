package db

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/selfhub/hub/errors"
)

// Defaults for SchemaLimits.
const (
	DefaultSchemaMaxSize = 64 << 10
	DefaultSchemaMaxWork = 1 << 18
	// DefaultSchemaTimeout is ten times what the slowest passing write the
	// default work limit admits takes here (schemadeadline.go), so that
	// only a hub too loaded to serve it refuses it.
	DefaultSchemaTimeout = time.Second
)

// Bounds of a validation failure's message: the first few causes, each
// with the end of its instance path and the start of its text, so that
// the whole fits a gRPC status (its trailer) with room.
const (
	maxCauses    = 5
	maxCausePath = 120
	maxCauseText = 180
)

// SchemaLimits bounds collection schemas and the work of checking writes
// against them (schemacost.go tells how the work is bounded).
type SchemaLimits struct {
	// MaxSize caps a schema's JSON, in bytes.
	MaxSize int
	// MaxWork caps the subschema checks one instance may need: the
	// instance's values and keys times the most subschemas the schema
	// may apply to one value. Schemas that may apply more than MaxWork
	// subschemas to a single value are refused when set.
	MaxWork int
	// Timeout is how long checking one instance may take (deadline.go).
	Timeout time.Duration
}

// withDefaults fills the zero fields.
func (l SchemaLimits) withDefaults() SchemaLimits {
	if l.MaxSize == 0 {
		l.MaxSize = DefaultSchemaMaxSize
	}
	if l.MaxWork == 0 {
		l.MaxWork = DefaultSchemaMaxWork
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultSchemaTimeout
	}
	return l
}

// schema is a collection's compiled JSON Schema. Drafts 4 to 2020-12 are
// accepted; a schema without "$schema" is read as draft-07, the draft the
// Textile clients' examples use.
type schema struct {
	compiled *jsonschema.Schema // nil: no schema, any object is accepted
	// perValue is the most subschemas the schema may apply to one value.
	perValue int64
	maxWork  int64
	// unbounded, when set, is why the schema is over this hub's limits; it
	// is set only for a stored schema (one set before the limits were
	// lowered), whose writes it refuses while its instances stay readable.
	unbounded error
	// deadline stops a check that runs past the limit's Timeout.
	deadline *deadline
}

// noLoader refuses every external reference, so a schema can never make
// hubd read a file or the network ("$ref": "file:///etc/passwd").
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external schema references are not allowed (%s); inline the definition", url)
}

// compileSchema compiles raw, which may be empty (no schema). A schema that
// is not valid, that declares _id as anything but a string, or whose
// validation cannot be bounded by lim is Invalid. When stored, a schema
// over lim is returned with unbounded set instead, so that the collection
// it belongs to can still be read.
func compileSchema(op errors.Op, raw []byte, lim SchemaLimits, stored bool) (schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return schema{}, nil
	}
	lim = lim.withDefaults()
	if len(raw) > lim.MaxSize && !stored {
		return schema{}, errors.Errorf(op, errors.Invalid, "collection schema is %d bytes; this hub's limit is %d", len(raw), lim.MaxSize)
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
	dl := &deadline{timeout: lim.Timeout}
	dl.register(c)
	const loc = "hub:collection-schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return schema{}, errors.Errorf(op, errors.Invalid, "collection schema: %v", err)
	}
	compiled, err := c.Compile(loc)
	if meta, ok := err.(*jsonschema.SchemaValidationError); ok {
		return schema{}, errors.Errorf(op, errors.Invalid, "collection schema does not match its draft's meta-schema: %s", causes(meta.Err))
	}
	if err != nil {
		return schema{}, errors.Errorf(op, errors.Invalid, "collection schema does not compile: %s", causes(err))
	}
	s := schema{compiled: compiled, maxWork: int64(lim.MaxWork), deadline: dl}
	s.perValue, err = costOf(compiled, doc, loc, s.maxWork)
	if err != nil {
		err = errors.Errorf(op, errors.Invalid, "collection schema cannot be bounded: %v", err)
		if !stored {
			return schema{}, err
		}
		s.unbounded = err
	}
	return s, nil
}

// validate checks an instance (decoded JSON) against the schema. The work
// is bounded before it starts: an instance whose weight (instanceWeight)
// times the schema's perValue passes maxWork is refused unchecked. The
// time is bounded too: a check still running the schema's timeout after
// it began, by the clock now, is abandoned (DeadlineExceeded).
func (s schema) validate(op errors.Op, doc any, now func() time.Time) error {
	if s.compiled == nil {
		return nil
	}
	if s.unbounded != nil {
		return errors.Errorf(op, errors.FailedPrecondition, "%v; update the collection's schema before writing to it", s.unbounded)
	}
	if n, w := instanceWeight(doc); satMul(w, s.perValue) > s.maxWork {
		return errors.Errorf(op, errors.Exhausted, "instance has %d values and keys (weighing %d, the deeper the heavier), and the collection schema may check each against up to %d subschemas: %d checks, over this hub's limit of %d; write smaller or shallower instances, or simplify the schema", n, w, s.perValue, satMul(w, s.perValue), s.maxWork)
	}
	checks, err := s.deadline.run(now, func() error { return s.compiled.Validate(doc) })
	switch {
	case err == errPastDeadline:
		return errors.Errorf(op, errors.DeadlineExceeded, "checking the instance against the collection schema took longer than this hub allows (%s; stopped after %d subschema checks); write smaller or shallower instances, or simplify the schema", s.deadline.timeout, checks)
	case err != nil:
		return errors.Errorf(op, errors.Invalid, "instance does not match the collection schema: %s", causes(err))
	}
	return nil
}

// causes describes a validation failure by its first few distinct leaf
// causes, each with the instance location it is about, in about
// maxCauses*(maxCausePath+maxCauseText) bytes at most. The library's own
// Error() renders the whole tree of causes, which a schema with many
// branches makes huge (the tree is as large as the work, and rendering it
// costs more than the validation).
func causes(err error) string {
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return clip(oneLine(err), maxCauses*maxCauseText)
	}
	p := message.NewPrinter(language.English)
	var out []string
	more := false
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		for _, c := range e.Causes {
			if walk(c); more {
				return
			}
		}
		if len(e.Causes) > 0 {
			return
		}
		at := "/" + strings.Join(e.InstanceLocation, "/")
		if len(at) > maxCausePath {
			at = "…" + strings.ToValidUTF8(at[len(at)-maxCausePath:], "")
		}
		text := clip(strings.Join(strings.Fields(e.ErrorKind.LocalizedString(p)), " "), maxCauseText)
		switch line := "at " + at + ": " + text; {
		case slices.Contains(out, line):
		case len(out) == maxCauses:
			more = true
		default:
			out = append(out, line)
		}
	}
	walk(verr)
	if more {
		out = append(out, "and more")
	}
	return strings.Join(out, "; ")
}

// clip cuts s to n bytes, on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// oneLine folds a multi-line report into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
