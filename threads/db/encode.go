package db

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Hand-written JSON encoders for what every write stores: the document
// record, the event body and the listen-log change. They produce what
// json.Marshal does (the readers still use json.Unmarshal) except that
// the instance JSON inside is copied as is: json.Marshal would validate
// and compact every json.RawMessage again, and an instance was already
// checked when it came in (parseInstance, or the event that carried it).

// encode returns r as JSON.
func (r *docRecord) encode() []byte {
	b := make([]byte, 0, len(r.Value)+len(r.Version.Log)+64)
	b = append(b, `{"Version":`...)
	b = r.Version.append(b)
	if r.Deleted {
		b = append(b, `,"Deleted":true`...)
	}
	if r.Conflict {
		b = append(b, `,"Conflict":true`...)
	}
	if len(r.Value) > 0 {
		b = append(b, `,"Value":`...)
		b = append(b, r.Value...)
	}
	return append(b, '}')
}

// append appends v as JSON to b.
func (v version) append(b []byte) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, v.Time, 10)
	b = append(b, `,"l":`...)
	b = appendString(b, v.Log)
	return append(b, '}')
}

// encode returns ev as JSON.
func (ev *eventBody) encode() []byte {
	n := 32
	for _, o := range ev.Ops {
		n += len(o.Col) + len(o.ID) + len(o.Value) + 32
	}
	b := make([]byte, 0, n)
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, ev.Time, 10)
	b = append(b, `,"o":[`...)
	for i, o := range ev.Ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"k":`...)
		b = appendString(b, string(o.Kind))
		b = append(b, `,"c":`...)
		b = appendString(b, o.Col)
		if o.ID != "" {
			b = append(b, `,"i":`...)
			b = appendString(b, o.ID)
		}
		if len(o.Value) > 0 {
			b = append(b, `,"v":`...)
			b = append(b, o.Value...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// encode returns c as JSON.
func (c *change) encode() []byte {
	b := make([]byte, 0, len(c.Col)+len(c.ID)+len(c.Value)+32)
	b = append(b, `{"c":`...)
	b = appendString(b, c.Col)
	b = append(b, `,"i":`...)
	b = appendString(b, c.ID)
	b = append(b, `,"a":`...)
	b = strconv.AppendInt(b, int64(c.Action), 10)
	if len(c.Value) > 0 {
		b = append(b, `,"v":`...)
		b = append(b, c.Value...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. Plain printable ASCII, what
// names, _ids and log IDs nearly always are, is copied; anything else is
// left to encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// decodeDocRecord reads a stored document record. Records are written by
// encode (by json.Marshal before it, "Deleted":false included), so the
// envelope is read directly and the instance copied as it is, without
// being scanned again: it was checked when it was written. A record in any
// other form goes through json.Unmarshal. The result does not share data.
func decodeDocRecord(data []byte) (*docRecord, error) {
	if r, ok := decodeDocRecordFast(data); ok {
		return r, nil
	}
	var r docRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// decodeDocRecordFast reads a record laid out as encode writes it, and
// says whether it was.
func decodeDocRecordFast(b []byte) (*docRecord, bool) {
	var r docRecord
	b, ok := bytes.CutPrefix(b, []byte(`{"Version":{"t":`))
	if !ok {
		return nil, false
	}
	n := 0
	if n < len(b) && b[n] == '-' {
		n++
	}
	digits := n
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n-digits > 1 && b[digits] == '0' {
		return nil, false // JSON has no leading zeros
	}
	t, err := strconv.ParseInt(string(b[:n]), 10, 64)
	if err != nil {
		return nil, false
	}
	if b, ok = bytes.CutPrefix(b[n:], []byte(`,"l":"`)); !ok {
		return nil, false
	}
	end := bytes.IndexByte(b, '"')
	if end < 0 || !plainString(b[:end]) {
		return nil, false // escapes and the rest: json.Unmarshal's job
	}
	r.Version = version{Time: t, Log: string(b[:end])}
	if b, ok = bytes.CutPrefix(b[end+1:], []byte(`}`)); !ok {
		return nil, false
	}
	if rest, ok := bytes.CutPrefix(b, []byte(`,"Deleted":true`)); ok {
		r.Deleted, b = true, rest
	} else if rest, ok := bytes.CutPrefix(b, []byte(`,"Deleted":false`)); ok {
		b = rest
	}
	if rest, ok := bytes.CutPrefix(b, []byte(`,"Conflict":true`)); ok {
		r.Conflict, b = true, rest
	}
	if rest, ok := bytes.CutPrefix(b, []byte(`,"Value":`)); ok {
		v := rest[:max(len(rest)-1, 0)]
		if len(v) == 0 || rest[len(v)] != '}' || isSpace(v[0]) || isSpace(v[len(v)-1]) {
			return nil, false // encode writes no white space
		}
		r.Value, b = bytes.Clone(v), rest[len(v):]
	}
	return &r, string(b) == "}"
}

// plainString reports whether b is the inside of a JSON string that needs
// no unescaping: valid UTF-8 with no backslash and no control character.
func plainString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '\\' {
			return false
		}
	}
	return utf8.Valid(b)
}

// isSpace reports whether c is JSON white space.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
