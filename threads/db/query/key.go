package query

import (
	"encoding/binary"
	"math"
	"strings"
)

// The type tags that begin an encoded key. They are stored on disk in index
// entries: never renumber them. Their order is Compare's order of kinds, so
// keys of different kinds never interleave.
const (
	tagBool   byte = 0x01
	tagNumber byte = 0x02
	tagString byte = 0x03
)

// String escapes: a 0x00 byte of the string is written 0x00 0xFF, and the
// string ends with 0x00 0x01, which sorts below every escaped byte, so a
// string sorts before every longer string it is a prefix of.
const (
	strEscape byte = 0x00
	strEscNul byte = 0xFF
	strEnd    byte = 0x01
)

// canonicalNaN is the one NaN bit pattern keys use: negative quiet NaN,
// which encodes below -Inf, where Compare puts NaN.
const canonicalNaN = 0xFFF8000000000000

// EncodeKey returns an order-preserving encoding of v: for any a and b,
// bytes.Compare(EncodeKey(a), EncodeKey(b)) == Compare(a, b). The encoding
// is a type tag byte followed by
//
//   - bool: one byte, 0 or 1;
//   - number: the IEEE 754 bits, big-endian, with the sign bit flipped for
//     positive numbers and every bit flipped for negative ones; -0 is written
//     as +0 and every NaN as one NaN, since Compare calls them equal;
//   - string: its bytes with 0x00 written 0x00 0xFF, then 0x00 0x01.
//
// No key is a prefix of another, so an index entry can be the key followed
// by a document ID and still sort by value first (see Plan). The zero Value
// encodes as nil.
func EncodeKey(v Value) []byte { return AppendKey(nil, v) }

// AppendKey appends EncodeKey(v) to dst and returns the extended slice.
func AppendKey(dst []byte, v Value) []byte {
	switch v.kind {
	case KindBool:
		b := byte(0)
		if v.b {
			b = 1
		}
		return append(dst, tagBool, b)
	case KindNumber:
		bits := math.Float64bits(v.f)
		switch {
		case v.f == 0:
			bits = 0
		case v.f != v.f:
			bits = canonicalNaN
		}
		if bits>>63 == 1 {
			bits = ^bits
		} else {
			bits |= 1 << 63
		}
		dst = append(dst, tagNumber)
		return binary.BigEndian.AppendUint64(dst, bits)
	case KindString:
		dst = append(dst, tagString)
		s := v.s
		for {
			i := strings.IndexByte(s, strEscape)
			if i < 0 {
				break
			}
			dst = append(dst, s[:i]...)
			dst = append(dst, strEscape, strEscNul)
			s = s[i+1:]
		}
		dst = append(dst, s...)
		return append(dst, strEscape, strEnd)
	}
	return dst
}

// prefixEnd returns the smallest byte string greater than every string that
// begins with p, or nil if there is none (p is all 0xFF).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
