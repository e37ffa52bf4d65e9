package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

func TestStringRoundTrip(t *testing.T) {
	priv, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := String(priv.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(s), "b") {
		t.Fatalf("%s is not multibase base32", s)
	}
	pub, err := Parse(s)
	if err != nil || !pub.Equals(priv.GetPublic()) {
		t.Fatalf("parse: %v", err)
	}
	raw, _ := Bytes(s)
	if back, _ := FromBytes(raw); back != s {
		t.Fatalf("bytes round trip gave %s", back)
	}
}

func TestParseRefuses(t *testing.T) {
	_, secp, _ := crypto.GenerateSecp256k1Key(nil)
	secpStr, _ := String(secp)
	for name, in := range map[string]hub.PubKey{
		"empty":         "",
		"not multibase": "!!!",
		"not a key":     "bmfrgg",
		"not Ed25519":   secpStr,
	} {
		if _, err := Parse(in); !errors.Is(errors.Invalid, err) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLoadOrCreate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "identity.key")
	a, err := LoadOrCreate(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(file)
	if err != nil || !a.Equals(b) {
		t.Fatalf("second load gave another key: %v", err)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v", fi.Mode().Perm())
	}
	os.WriteFile(file, []byte("garbage"), 0o600)
	if _, err := LoadOrCreate(file); !errors.Is(errors.Invalid, err) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt file: %v", err)
	}
}
