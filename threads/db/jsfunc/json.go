package jsfunc

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// jsonDecoder builds JavaScript values from JSON text, as JSON.parse
// would, several times faster than goja's JSON.parse (which goes through
// encoding/json's token API): Validate and Apply decode their arguments on
// every call. Members are defined, not assigned, as JSON.parse does, so a
// "__proto__" member is an own property and never a prototype.
type jsonDecoder struct {
	vm    *goja.Runtime
	data  []byte
	pos   int
	depth int
}

// decodeJSON decodes data, which must hold exactly one JSON value nested
// at most MaxJSONDepth deep.
func decodeJSON(vm *goja.Runtime, data []byte) (goja.Value, error) {
	d := &jsonDecoder{vm: vm, data: data}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.space()
	if d.pos < len(d.data) {
		return nil, d.errorf("unexpected %q after the value", d.data[d.pos])
	}
	return v, nil
}

// errTooDeep is the error for JSON nested deeper than MaxJSONDepth.
type errTooDeep struct{}

func (errTooDeep) Error() string {
	return fmt.Sprintf("nests deeper than %d levels", MaxJSONDepth)
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", d.pos, fmt.Sprintf(format, args...))
}

// space skips JSON white space.
func (d *jsonDecoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value() (goja.Value, error) {
	d.space()
	if d.pos >= len(d.data) {
		return nil, d.errorf("unexpected end of JSON")
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		s, err := d.string()
		if err != nil {
			return nil, err
		}
		return d.vm.ToValue(s), nil
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	for _, lit := range [...]struct {
		text string
		v    goja.Value
	}{{"true", d.vm.ToValue(true)}, {"false", d.vm.ToValue(false)}, {"null", goja.Null()}} {
		if len(d.data)-d.pos >= len(lit.text) && string(d.data[d.pos:d.pos+len(lit.text)]) == lit.text {
			d.pos += len(lit.text)
			return lit.v, nil
		}
	}
	return nil, d.errorf("unexpected %q", d.data[d.pos])
}

func (d *jsonDecoder) object() (goja.Value, error) {
	if d.depth++; d.depth > MaxJSONDepth {
		return nil, errTooDeep{}
	}
	d.pos++ // {
	obj := d.vm.NewObject()
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return obj, nil
	}
	for {
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.errorf("expected a member name")
		}
		key, err := d.string()
		if err != nil {
			return nil, err
		}
		d.space()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return nil, d.errorf("expected ':' after a member name")
		}
		d.pos++
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		if err := obj.DefineDataProperty(key, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE); err != nil {
			return nil, err
		}
		d.space()
		if d.pos >= len(d.data) {
			return nil, d.errorf("unexpected end of JSON in an object")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.depth--
			return obj, nil
		default:
			return nil, d.errorf("expected ',' or '}' in an object")
		}
	}
}

func (d *jsonDecoder) array() (goja.Value, error) {
	if d.depth++; d.depth > MaxJSONDepth {
		return nil, errTooDeep{}
	}
	d.pos++ // [
	var items []any
	d.space()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return d.vm.NewArray(), nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		d.space()
		if d.pos >= len(d.data) {
			return nil, d.errorf("unexpected end of JSON in an array")
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.depth--
			return d.vm.NewArray(items...), nil
		default:
			return nil, d.errorf("expected ',' or ']' in an array")
		}
	}
}

// string decodes the string at d.pos. Strings without escapes, the common
// case, are sliced; the rest go to encoding/json, which decodes escapes as
// JSON.parse does, but for a lone surrogate, which it turns into U+FFFD
// (as goja's JSON.parse, built on it, does too).
func (d *jsonDecoder) string() (string, error) {
	start := d.pos
	d.pos++ // "
	escaped := false
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			if !escaped {
				s := string(d.data[start+1 : d.pos-1])
				if !utf8.ValidString(s) {
					escaped = true // let encoding/json replace bad bytes
				} else {
					return s, nil
				}
			}
			var s string
			if err := json.Unmarshal(d.data[start:d.pos], &s); err != nil {
				return "", d.errorf("bad string: %v", err)
			}
			return s, nil
		case c == '\\':
			escaped = true
			d.pos += 2
		case c < 0x20:
			return "", d.errorf("control character in a string")
		default:
			d.pos++
		}
	}
	return "", d.errorf("unexpected end of JSON in a string")
}

// number decodes the number at d.pos, checking JSON's grammar (which is
// stricter than strconv's).
func (d *jsonDecoder) number() (goja.Value, error) {
	start := d.pos
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	if d.data[d.pos] == '-' {
		d.pos++
	}
	if d.pos < len(d.data) && d.data[d.pos] == '0' {
		d.pos++
	} else if digits() == 0 {
		return nil, d.errorf("bad number")
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			return nil, d.errorf("bad number")
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			return nil, d.errorf("bad number")
		}
	}
	text := string(d.data[start:d.pos])
	if n, err := strconv.ParseInt(text, 10, 64); err == nil && n > -1<<53 && n < 1<<53 && (n != 0 || text[0] != '-') {
		return d.vm.ToValue(n), nil
	}
	// Out of range gives ±Inf, as in JavaScript; the grammar was checked.
	f, _ := strconv.ParseFloat(text, 64)
	return d.vm.ToValue(f), nil
}
