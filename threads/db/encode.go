package db

import (
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
