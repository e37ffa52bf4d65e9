package threads

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/multiformats/go-multibase"

	"github.com/selfhub/hub/errors"
)

func TestKeyRoundTrip(t *testing.T) {
	full, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	service, err := NewServiceKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		key     Key
		size    int
		canRead bool
	}{
		{"full", full, 64, true},
		{"service only", service, 32, false},
		{"full made service only", full.ServiceOnly(), 32, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.key.Bytes()) != tc.size || tc.key.CanRead() != tc.canRead || !tc.key.Defined() {
				t.Fatalf("%d bytes, can read %v", len(tc.key.Bytes()), tc.key.CanRead())
			}
			if _, ok := tc.key.Read(); ok != tc.canRead {
				t.Fatalf("Read reports %v", ok)
			}
			s := tc.key.String()
			if !strings.HasPrefix(s, "b") {
				t.Fatalf("%s is not multibase base32", s)
			}
			back, err := KeyFromString(s)
			if err != nil || !bytes.Equal(back.Bytes(), tc.key.Bytes()) || back.CanRead() != tc.canRead {
				t.Fatalf("KeyFromString: %v", err)
			}
			back, err = KeyFromBytes(tc.key.Bytes())
			if err != nil || back.String() != s {
				t.Fatalf("KeyFromBytes: %v", err)
			}
		})
	}
	if !bytes.Equal(full.ServiceOnly().Bytes(), full.Service().Bytes()) {
		t.Fatal("ServiceOnly changed the service key")
	}
	if (Key{}).Defined() || (Key{}).String() != "" {
		t.Fatal("the zero key is defined")
	}
}

// TestKeyFromJS parses keys made by @textile/security 0.9.1
// (ThreadKey.fromRandom(withRead).toString()), and the examples in its
// doc comment.
func TestKeyFromJS(t *testing.T) {
	for _, tc := range []struct {
		name, in, hex string
		canRead       bool
	}{
		{"full", "bo46rqvpupb4grbdnpazjkbai45e3lmpzjvkra4pamsyg26sxds2rlzjeiaagl3wi2mplsbjt222rp5yacf6tfkvxm446c4k4wjwcvaa",
			"773d1855f4787868846d7832950408e749b5b1f94d551071e064b06d7a571cb515e524400065eec8d31eb90533d6b517f700117d32aab76739e1715cb26c2a80", true},
		{"service only", "bst3aff7evrh46iaw6346n7dn73r4qfgfeoyjfnot4cdphlcvrcma",
			"94f60297e4ac4fcf2016f6f9e6fc6dfee3c814c523b092b5d3e086f3ac558898", false},
		{"doc example full", "brv7t5l2h55uklz5qwpntcat26csaasfchzof3emmdy6povabcd3a2to2qdkqdkto2prfhizerqqudqsdvwherbiy4nazqxjejgdr4oy", "", true},
		{"doc example network", "bp2vvqody5zm6yqycsnazb4kpqvycbdosos352zvpsorxce5koh7q", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := KeyFromString(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.hex != "" && hex.EncodeToString(k.Bytes()) != tc.hex {
				t.Fatalf("bytes %x", k.Bytes())
			}
			if k.CanRead() != tc.canRead || k.String() != tc.in {
				t.Fatalf("can read %v, string %s", k.CanRead(), k)
			}
		})
	}
}

func TestKeyRefused(t *testing.T) {
	enc := func(n int) string { s, _ := multibase.Encode(multibase.Base32, make([]byte, n)); return s }
	for _, tc := range []struct{ name, in, why string }{
		{"empty", "", "empty"},
		{"not multibase", "!!", "not a multibase string"},
		{"31 bytes", enc(31), "31 bytes, want 64"},
		{"33 bytes", enc(33), "33 bytes"},
		{"65 bytes", enc(65), "65 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := KeyFromString(tc.in)
			check(t, err, errors.Invalid, tc.why)
		})
	}
	_, err := SymKeyFromBytes(make([]byte, 16))
	check(t, err, errors.Invalid, "16 bytes, want 32")
}

func TestSymKey(t *testing.T) {
	k, _ := NewSymKey()
	other, _ := NewSymKey()
	plain := []byte("the quick brown fox")
	a, err := k.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Encrypt(plain)
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions are equal: the nonce is not fresh")
	}
	if len(a) != 12+len(plain)+16 {
		t.Fatalf("ciphertext is %d bytes, want nonce(12) + %d + tag(16)", len(a), len(plain))
	}
	if got, err := k.Decrypt(a); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	if empty, _ := k.Encrypt(nil); len(empty) != 28 {
		t.Fatalf("empty plaintext gave %d bytes", len(empty))
	}
	_, err = other.Decrypt(a)
	check(t, err, errors.Permission, "wrong key")
	tampered := bytes.Clone(a)
	tampered[len(tampered)-1] ^= 1
	_, err = k.Decrypt(tampered)
	check(t, err, errors.Permission, "altered")
	_, err = k.Decrypt(a[:27])
	check(t, err, errors.Invalid, "shorter than nonce and tag")
}
