package query

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// edgeValues are values whose encodings are easy to get wrong.
var edgeValues = []Value{
	BoolValue(false), BoolValue(true),
	FloatValue(math.Inf(-1)), FloatValue(-math.MaxFloat64), FloatValue(-1), FloatValue(-math.SmallestNonzeroFloat64),
	FloatValue(math.Copysign(0, -1)), FloatValue(0), FloatValue(math.SmallestNonzeroFloat64), FloatValue(1),
	FloatValue(math.MaxFloat64), FloatValue(math.Inf(1)), FloatValue(math.NaN()),
	StringValue(""), StringValue("\x00"), StringValue("\x00\x00"), StringValue("\x00\x01"), StringValue("\x00\xff"),
	StringValue("\x01"), StringValue("a"), StringValue("a\x00"), StringValue("a\x00\x00"), StringValue("a\x00b"),
	StringValue("a\x01"), StringValue("ab"), StringValue("b"), StringValue("\xff"), StringValue("\xff\xff"),
}

func randomKeyValue(r *rand.Rand) Value {
	switch r.IntN(6) {
	case 0:
		return edgeValues[r.IntN(len(edgeValues))]
	case 1:
		return BoolValue(r.IntN(2) == 0)
	case 2:
		return FloatValue(math.Float64frombits(r.Uint64())) // any bit pattern, NaNs included
	case 3:
		return FloatValue(float64(r.IntN(21) - 10))
	}
	// Short strings over an alphabet heavy in 0x00, 0x01 and 0xFF, so that
	// prefixes and escapes meet often.
	alphabet := []byte{0x00, 0x01, 'a', 'b', 0xfe, 0xff}
	b := make([]byte, r.IntN(5))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return StringValue(string(b))
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// TestEncodeKeyOrder checks that byte order of keys is Compare's order, for
// the edge values pairwise and for random pairs, and that it stays so when
// anything (a document ID) follows the key.
func TestEncodeKeyOrder(t *testing.T) {
	check := func(a, b Value) {
		t.Helper()
		ka, kb := EncodeKey(a), EncodeKey(b)
		want := Compare(a, b)
		if got := sign(bytes.Compare(ka, kb)); got != want {
			t.Fatalf("bytes.Compare(EncodeKey(%v), EncodeKey(%v)) = %d; Compare = %d\n %x\n %x", a, b, got, want, ka, kb)
		}
		if want != 0 {
			// No key is a prefix of another: suffixes never change the order.
			sa := append(slices.Clone(ka), 0xff, 0xff)
			sb := append(slices.Clone(kb), 0x00)
			if got := sign(bytes.Compare(sa, sb)); got != want {
				t.Fatalf("with suffixes, %v vs %v compare %d; want %d", a, b, got, want)
			}
		}
	}
	for _, a := range edgeValues {
		for _, b := range edgeValues {
			check(a, b)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		check(randomKeyValue(r), randomKeyValue(r))
	}
}

func TestEncodeKeyLayout(t *testing.T) {
	cases := []struct {
		name string
		v    Value
		want []byte
	}{
		{"false", BoolValue(false), []byte{tagBool, 0}},
		{"true", BoolValue(true), []byte{tagBool, 1}},
		{"zero", FloatValue(0), []byte{tagNumber, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"negative zero is zero", FloatValue(math.Copysign(0, -1)), []byte{tagNumber, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"one", FloatValue(1), []byte{tagNumber, 0xbf, 0xf0, 0, 0, 0, 0, 0, 0}},
		{"minus one", FloatValue(-1), []byte{tagNumber, 0x40, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"empty string", StringValue(""), []byte{tagString, 0x00, 0x01}},
		{"string with NUL", StringValue("a\x00b"), []byte{tagString, 'a', 0x00, 0xff, 'b', 0x00, 0x01}},
		{"zero Value", Value{}, nil},
	}
	for _, c := range cases {
		if got := EncodeKey(c.v); !bytes.Equal(got, c.want) {
			t.Errorf("%s: EncodeKey(%v) = %x; want %x", c.name, c.v, got, c.want)
		}
	}
	if got := AppendKey([]byte("prefix/"), BoolValue(true)); string(got) != "prefix/\x01\x01" {
		t.Errorf("AppendKey = %q", got)
	}
}

// TestKeysDelimitThemselves: an encoded key ends where its value's
// encoding says, so an index entry's value and the _id after it never run
// together, and a scan for one value meets no other: decoding a key
// followed by more bytes gives back the value and where it ends.
func TestKeysDelimitThemselves(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 20000 {
		v := randomKeyValue(r)
		if i < len(edgeValues) {
			v = edgeValues[i]
		}
		key := append(EncodeKey(v), "id\x00\x01"...)
		got, n := decodeKey(t, key)
		if Compare(got, v) != 0 || string(key[n:]) != "id\x00\x01" {
			t.Fatalf("decodeKey(EncodeKey(%v)+suffix) = %v, rest %q", v, got, key[n:])
		}
	}
}

// decodeKey reads the key at the start of b, as AppendKey wrote it, and
// returns its value and its length in bytes.
func decodeKey(t *testing.T, b []byte) (Value, int) {
	t.Helper()
	switch {
	case len(b) >= 2 && b[0] == tagBool && b[1] <= 1:
		return BoolValue(b[1] == 1), 2
	case len(b) >= 9 && b[0] == tagNumber:
		bits := binary.BigEndian.Uint64(b[1:9])
		if bits>>63 == 1 {
			bits &^= 1 << 63
		} else {
			bits = ^bits
		}
		return FloatValue(math.Float64frombits(bits)), 9
	case len(b) >= 1 && b[0] == tagString:
		var s []byte
		for i := 1; i+1 < len(b); i++ {
			switch {
			case b[i] != strEscape:
				s = append(s, b[i])
			case b[i+1] == strEnd:
				return StringValue(string(s)), i + 2
			case b[i+1] == strEscNul:
				s = append(s, 0)
				i++
			default:
				t.Fatalf("bad escape in string key %x", b)
			}
		}
	}
	t.Fatalf("malformed key %x", b)
	return Value{}, 0
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct{ in, want []byte }{
		{[]byte{1, 2}, []byte{1, 3}},
		{[]byte{1, 0xff}, []byte{2}},
		{[]byte{0xff, 0xff}, nil},
	} {
		if got := prefixEnd(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("prefixEnd(%x) = %x; want %x", c.in, got, c.want)
		}
	}
}

func TestValueOf(t *testing.T) {
	for _, c := range []struct {
		in   any
		want Value
		ok   bool
	}{
		{"x", StringValue("x"), true},
		{2.5, FloatValue(2.5), true},
		{true, BoolValue(true), true},
		{json.Number("12"), FloatValue(12), true},
		{json.Number("1e400"), FloatValue(math.Inf(1)), true},
		{json.Number("-1e400"), FloatValue(math.Inf(-1)), true},
		{json.Number("bad"), Value{}, false},
		{nil, Value{}, false},
		{map[string]any{}, Value{}, false},
		{[]any{1.0}, Value{}, false},
		{3, Value{}, false}, // not what encoding/json produces
	} {
		got, ok := ValueOf(c.in)
		if ok != c.ok || Compare(got, c.want) != 0 || got.Kind() != c.want.Kind() {
			t.Errorf("ValueOf(%#v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestValueAccessors(t *testing.T) {
	s, f, b := StringValue("hi"), FloatValue(1.5), BoolValue(true)
	if s.AsString() != "hi" || f.AsFloat() != 1.5 || !b.AsBool() || s.AsFloat() != 0 {
		t.Error("accessors disagree with constructors")
	}
	for v, want := range map[Value]string{s: `"hi"`, f: "1.5", b: "true", {}: "<none>"} {
		if v.String() != want {
			t.Errorf("%#v.String() = %q; want %q", v, v.String(), want)
		}
	}
	for k, want := range map[Kind]string{KindNone: "none", KindBool: "bool", KindNumber: "float", KindString: "string"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q; want %q", k, k.String(), want)
		}
	}
	if Gt.String() != "Gt" || Op(9).String() != "Op(9)" {
		t.Errorf("Op names: %v %v", Gt, Op(9))
	}
}
