package query

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/selfhub/hub/errors"
)

// The wire structs mirror the client's QueryJSON. encoding/json matches
// their keys case-insensitively, as it did for the original Go server, whose
// structs had no tags; the Go client sends "Ands", "FieldPath", "String"….
// Scalars whose JSON type is checked by hand are kept raw, so that the
// error says which field is wrong in the client's vocabulary.
type wireQuery struct {
	Ands  []*wireCriterion `json:"ands"`
	Ors   []*wireQuery     `json:"ors"`
	Sort  *wireSort        `json:"sort"`
	Seek  string           `json:"seek"`
	Limit json.RawMessage  `json:"limit"`
	Skip  json.RawMessage  `json:"skip"`
	Index string           `json:"index"`
}

type wireCriterion struct {
	FieldPath string          `json:"fieldPath"`
	Operation json.RawMessage `json:"operation"`
	Value     *wireValue      `json:"value"`
}

type wireValue struct {
	String json.RawMessage `json:"string"`
	Float  json.RawMessage `json:"float"`
	Bool   json.RawMessage `json:"bool"`
}

type wireSort struct {
	FieldPath string `json:"fieldPath"`
	Desc      bool   `json:"desc"`
}

// Parse decodes a query in its wire form (the Find request's queryJSON) and
// validates it. Every refusal is an errors.Invalid whose message names the
// offending field, such as "ors[1].ands[0].value: ...", and says what to
// send instead. An empty input, "null" and "{}" give a query that matches
// every document.
func Parse(data []byte) (*Query, error) {
	if len(data) > MaxSize {
		return nil, errors.Errorf(opParse, errors.Invalid,
			"query is %d bytes; the limit is %d: split it into several queries", len(data), MaxSize)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return &Query{}, nil
	}
	if data[0] != '{' && !bytes.Equal(data, []byte("null")) {
		return nil, errors.Errorf(opParse, errors.Invalid,
			"a query must be a JSON object such as {\"ands\": [...]}, not %s", jsonKind(data))
	}
	var w *wireQuery
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, errors.E(opParse, errors.Invalid, describeJSONError(err))
	}
	if w == nil {
		return &Query{}, nil
	}
	q, err := w.convert("", 1)
	if err != nil {
		return nil, err
	}
	if err := q.validate(opParse, "", 1); err != nil {
		return nil, err
	}
	return q, nil
}

// convert turns the wire struct into a Query, checking the JSON types that
// encoding/json could not check for it. at is the location of w in the
// query ("" or "ors[1]."), for messages; depth is w's nesting depth.
// Locations of criteria are formatted only for an error, to keep the
// common path cheap.
func (w *wireQuery) convert(at string, depth int) (*Query, error) {
	if depth > MaxDepth {
		return nil, errors.Errorf(opParse, errors.Invalid,
			"%sors nest deeper than %d levels; flatten the query", at, MaxDepth)
	}
	q := &Query{Seek: w.Seek, Index: w.Index}
	if w.Sort != nil {
		q.Sort = Sort{FieldPath: w.Sort.FieldPath, Desc: w.Sort.Desc}
	}
	var problem string
	if q.Limit, problem = wireInt(w.Limit); problem != "" {
		return nil, errors.Errorf(opParse, errors.Invalid, "%slimit %s", at, problem)
	}
	if q.Skip, problem = wireInt(w.Skip); problem != "" {
		return nil, errors.Errorf(opParse, errors.Invalid, "%sskip %s", at, problem)
	}
	if len(w.Ands) > 0 {
		q.Ands = make([]Criterion, len(w.Ands))
	}
	for i, wc := range w.Ands {
		if wc == nil {
			return nil, errors.Errorf(opParse, errors.Invalid,
				"%sands[%d] is null; give a criterion {fieldPath, operation, value}", at, i)
		}
		c := &q.Ands[i]
		c.FieldPath = wc.FieldPath
		if c.Op, problem = wireOp(wc.Operation); problem != "" {
			return nil, errors.Errorf(opParse, errors.Invalid, "%sands[%d].operation: %s", at, i, problem)
		}
		var sub string
		if c.Value, sub, problem = wc.Value.convert(); problem != "" {
			return nil, errors.Errorf(opParse, errors.Invalid, "%sands[%d].value%s %s", at, i, sub, problem)
		}
	}
	if len(w.Ors) > 0 {
		q.Ors = make([]*Query, len(w.Ors))
	}
	for i, wo := range w.Ors {
		if wo == nil {
			return nil, errors.Errorf(opParse, errors.Invalid,
				"%sors[%d] is null; give a query object, or leave it out", at, i)
		}
		var err error
		if q.Ors[i], err = wo.convert(fmt.Sprintf("%sors[%d].", at, i), depth+1); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// convert checks that exactly one of the value's types is given. On
// failure it returns the part of the value at fault ("" or ".float") and
// what is wrong with it.
func (w *wireValue) convert() (v Value, sub, problem string) {
	n := 0
	if w != nil {
		if present(w.String) {
			n++
			var s string
			if json.Unmarshal(w.String, &s) != nil {
				return Value{}, ".string", "must be a JSON string, not " + jsonKind(w.String)
			}
			v = StringValue(s)
		}
		if present(w.Float) {
			n++
			f, problem := wireFloat(w.Float)
			if problem != "" {
				return Value{}, ".float", problem
			}
			v = FloatValue(f)
		}
		if present(w.Bool) {
			n++
			var b bool
			if json.Unmarshal(w.Bool, &b) != nil {
				return Value{}, ".bool", "must be true or false, not " + jsonKind(w.Bool)
			}
			v = BoolValue(b)
		}
	}
	switch n {
	case 0:
		// JSON.stringify turns NaN and ±Infinity into null, so a client that
		// compares with one of them lands here.
		return Value{}, "", "has no type; set exactly one of string, float or bool (NaN and Infinity are not JSON numbers)"
	case 1:
		return v, "", ""
	}
	var given []string
	for _, g := range []struct {
		name string
		raw  json.RawMessage
	}{{"string", w.String}, {"float", w.Float}, {"bool", w.Bool}} {
		if present(g.raw) {
			given = append(given, g.name)
		}
	}
	return Value{}, "", "has several types (" + strings.Join(given, ", ") + "); set exactly one of string, float or bool"
}

// present reports whether a raw field was given and is not null.
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null"))
}

// wireOp decodes an operation: a number from 0 to 5. A missing operation is
// Eq, the zero value, as it was for the original Go server.
func wireOp(raw json.RawMessage) (Op, string) {
	if !present(raw) {
		return Eq, ""
	}
	n, err := strconv.ParseInt(string(raw), 10, 8)
	if err != nil || !Op(n).valid() {
		return 0, "unknown operation " + string(raw) + "; use one of " + allowedOps
	}
	return Op(n), ""
}

// wireFloat decodes a JSON number that must fit a float64.
func wireFloat(raw json.RawMessage) (float64, string) {
	if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return 0, "must be a JSON number, not " + jsonKind(raw)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !isRangeErr(err) {
		return 0, "is " + string(raw) + ", which is not a number"
	}
	if math.IsInf(f, 0) {
		return 0, "is " + string(raw) + ", beyond the range of a 64-bit float (about ±1.8e308)"
	}
	return f, ""
}

// wireInt decodes limit or skip: a whole number from 0 up. JavaScript may
// write a whole number in exponent form (1e+21), so an integral float is
// accepted if it fits an int.
func wireInt(raw json.RawMessage) (int, string) {
	if !present(raw) {
		return 0, ""
	}
	if n, err := strconv.ParseInt(string(raw), 10, 0); err == nil {
		if n < 0 {
			return 0, "is " + string(raw) + "; give 0 or more"
		}
		return int(n), ""
	}
	f, problem := wireFloat(raw)
	switch {
	case problem != "":
		return 0, problem
	case f != math.Trunc(f):
		return 0, "is " + string(raw) + "; give a whole number"
	case f < 0:
		return 0, "is " + string(raw) + "; give 0 or more"
	case f >= math.MaxInt:
		return 0, "is " + string(raw) + "; give at most " + itoa(math.MaxInt)
	}
	return int(f), ""
}

// jsonKind names the JSON type of a raw value, for messages.
func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "something that is not JSON"
}

// describeJSONError rewrites encoding/json's errors in the wire's terms.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "query"
		}
		return fmt.Sprintf("%s must be %s, not a JSON %s", field, goTypeToJSON(te.Type), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("query is not valid JSON at byte %d: %v", se.Offset, err)
	}
	return "query is not valid JSON: " + err.Error()
}

func goTypeToJSON(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a " + t.Kind().String()
}

// Validate checks a query built in Go as Parse checks one from the wire:
// known operations, typed values, well-formed field paths, limit and skip
// not negative, ors neither nil nor nested deeper than MaxDepth. Errors are
// errors.Invalid.
func (q *Query) Validate() error {
	if q == nil {
		return nil
	}
	return q.validate(opValidate, "", 1)
}

func (q *Query) validate(op errors.Op, at string, depth int) error {
	if depth > MaxDepth {
		return errors.Errorf(op, errors.Invalid,
			"%sors nest deeper than %d levels; flatten the query", at, MaxDepth)
	}
	for i := range q.Ands {
		c := &q.Ands[i]
		if problem := checkPath(c.FieldPath); problem != "" {
			return errors.Errorf(op, errors.Invalid, "%sands[%d].fieldPath %s", at, i, problem)
		}
		if !c.Op.valid() {
			return errors.Errorf(op, errors.Invalid,
				"%sands[%d].operation: unknown operation %d; use one of %s", at, i, int(c.Op), allowedOps)
		}
		if c.Value.kind == KindNone {
			return errors.Errorf(op, errors.Invalid,
				"%sands[%d].value has no type; set exactly one of string, float or bool", at, i)
		}
	}
	if q.Sort.FieldPath != "" {
		if problem := checkPath(q.Sort.FieldPath); problem != "" {
			return errors.Errorf(op, errors.Invalid, "%ssort.fieldPath %s", at, problem)
		}
	}
	if q.Index != "" {
		if problem := checkPath(q.Index); problem != "" {
			return errors.Errorf(op, errors.Invalid, "%sindex %s", at, problem)
		}
	}
	if q.Limit < 0 {
		return errors.Errorf(op, errors.Invalid, "%slimit is %d; give 0 or more", at, q.Limit)
	}
	if q.Skip < 0 {
		return errors.Errorf(op, errors.Invalid, "%sskip is %d; give 0 or more", at, q.Skip)
	}
	for i, o := range q.Ors {
		if o == nil {
			return errors.Errorf(op, errors.Invalid, "%sors[%d] is nil; give a query", at, i)
		}
		if err := o.validate(op, fmt.Sprintf("%sors[%d].", at, i), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkPath says what is wrong with a field path, or "".
func checkPath(path string) string {
	if path == "" {
		return "is empty; name a field, such as \"age\" or \"meta.rating\""
	}
	if strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return strconv.Quote(path) + " has an empty segment; separate field names with single dots, as in \"meta.rating\""
	}
	return ""
}

// MarshalJSON writes q in the wire form the JavaScript client sends, so a Go
// client can send it and Parse reads it back unchanged. It fails, with
// errors.Invalid, only for a number JSON cannot hold (NaN, ±Inf).
func (q *Query) MarshalJSON() ([]byte, error) {
	if q == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	if err := q.marshal(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (q *Query) marshal(b *bytes.Buffer) error {
	b.WriteString(`{"ands":[`)
	for i, c := range q.Ands {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"fieldPath":`)
		writeString(b, c.FieldPath)
		b.WriteString(`,"operation":`)
		b.WriteString(itoa(int64(c.Op)))
		b.WriteString(`,"value":{`)
		switch c.Value.kind {
		case KindString:
			b.WriteString(`"string":`)
			writeString(b, c.Value.s)
		case KindNumber:
			if math.IsNaN(c.Value.f) || math.IsInf(c.Value.f, 0) {
				return errors.Errorf(opMarshal, errors.Invalid,
					"ands[%d].value is %v, which JSON cannot hold", i, c.Value.f)
			}
			b.WriteString(`"float":`)
			b.WriteString(strconv.FormatFloat(c.Value.f, 'g', -1, 64))
		case KindBool:
			b.WriteString(`"bool":`)
			b.WriteString(strconv.FormatBool(c.Value.b))
		}
		b.WriteString(`}}`)
	}
	b.WriteString(`],"ors":[`)
	for i, o := range q.Ors {
		if i > 0 {
			b.WriteByte(',')
		}
		if o == nil {
			b.WriteString("{}")
			continue
		}
		if err := o.marshal(b); err != nil {
			return err
		}
	}
	b.WriteByte(']')
	if q.Sort != (Sort{}) {
		b.WriteString(`,"sort":{"fieldPath":`)
		writeString(b, q.Sort.FieldPath)
		b.WriteString(`,"desc":`)
		b.WriteString(strconv.FormatBool(q.Sort.Desc))
		b.WriteByte('}')
	}
	if q.Seek != "" {
		b.WriteString(`,"seek":`)
		writeString(b, q.Seek)
	}
	if q.Limit != 0 {
		b.WriteString(`,"limit":`)
		b.WriteString(itoa(int64(q.Limit)))
	}
	if q.Skip != 0 {
		b.WriteString(`,"skip":`)
		b.WriteString(itoa(int64(q.Skip)))
	}
	if q.Index != "" {
		b.WriteString(`,"index":`)
		writeString(b, q.Index)
	}
	b.WriteByte('}')
	return nil
}

// writeString writes s as a JSON string. json.Marshal of a string cannot
// fail; invalid UTF-8 becomes U+FFFD, as it would for any Go JSON encoder.
func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}
