package query

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds, in the order Compare puts values of different kinds.
const (
	KindNone   Kind = iota // the zero Value, which holds nothing
	KindBool               // true or false
	KindNumber             // a float64
	KindString             // a string
)

// String returns the kind's name as the wire spells it ("string", "float",
// "bool"), or "none".
func (k Kind) String() string {
	switch k {
	case KindBool:
		return "bool"
	case KindNumber:
		return "float"
	case KindString:
		return "string"
	}
	return "none"
}

// Value is a string, a number or a bool: the value of a criterion, or a
// scalar field of a document. The zero Value has KindNone.
type Value struct {
	kind Kind
	s    string
	f    float64
	b    bool
}

// StringValue returns a string Value.
func StringValue(s string) Value { return Value{kind: KindString, s: s} }

// FloatValue returns a number Value.
func FloatValue(f float64) Value { return Value{kind: KindNumber, f: f} }

// BoolValue returns a bool Value.
func BoolValue(b bool) Value { return Value{kind: KindBool, b: b} }

// Kind reports the type of v.
func (v Value) Kind() Kind { return v.kind }

// AsString returns v's string, or "" if v is not a string.
func (v Value) AsString() string { return v.s }

// AsFloat returns v's number, or 0 if v is not a number.
func (v Value) AsFloat() float64 { return v.f }

// AsBool returns v's bool, or false if v is not a bool.
func (v Value) AsBool() bool { return v.b }

// String formats v for people: strings quoted, numbers in the shortest form
// that reads back exactly.
func (v Value) String() string {
	switch v.kind {
	case KindString:
		return strconv.Quote(v.s)
	case KindNumber:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case KindBool:
		return strconv.FormatBool(v.b)
	}
	return "<none>"
}

// ValueOf converts a value of a JSON document, as encoding/json decodes it
// (string, bool, float64, or json.Number when the decoder uses UseNumber),
// to a Value. It reports false for nil (JSON null), objects, arrays and any
// other Go type. A json.Number outside float64's range becomes ±Inf, as
// strconv.ParseFloat rounds it; numbers are compared as float64, so
// integers beyond 2^53 lose precision.
func ValueOf(v any) (Value, bool) {
	switch v := v.(type) {
	case string:
		return StringValue(v), true
	case float64:
		return FloatValue(v), true
	case bool:
		return BoolValue(v), true
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !isRangeErr(err) {
			return Value{}, false
		}
		return FloatValue(f), true
	}
	return Value{}, false
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// Compare orders two values: -1 if a < b, 0 if equal, +1 if a > b. Values
// of different kinds order by kind (none < bool < number < string); strings
// compare by bytes, false < true, and numbers as cmp.Compare does (-0 equals
// +0; NaN, which JSON cannot carry, equals itself and is below -Inf).
// EncodeKey preserves this order.
func Compare(a, b Value) int {
	if a.kind != b.kind {
		return cmp.Compare(a.kind, b.kind)
	}
	switch a.kind {
	case KindString:
		return strings.Compare(a.s, b.s)
	case KindNumber:
		return cmp.Compare(a.f, b.f)
	case KindBool:
		switch {
		case a.b == b.b:
			return 0
		case b.b:
			return -1
		}
		return 1
	}
	return 0
}

// itoa formats n in decimal.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
