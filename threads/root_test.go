package threads

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
)

// TestRootID: an access-controlled ID names its root log, which RootLog
// reads back; a raw ID and a key that is not Ed25519 are refused.
func TestRootID(t *testing.T) {
	priv, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := RootID(pub)
	if err != nil {
		t.Fatal(err)
	}
	if id.Variant() != AccessControlled {
		t.Fatalf("RootID made variant %s", id.Variant())
	}
	if _, err := Decode(id.String()); err != nil {
		t.Fatalf("RootID made an ID Decode refuses: %v", err)
	}
	lid, err := RootLog(id)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := peer.IDFromPrivateKey(priv)
	if lid != want {
		t.Fatalf("RootLog = %s; want %s", lid, want)
	}
	raw, _ := NewID(Raw)
	_, err = RootLog(raw)
	errorstest.WantKind(t, err, errors.Invalid, "not access controlled")
	_, rsa, err := crypto.GenerateSecp256k1Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = RootID(rsa)
	errorstest.WantKind(t, err, errors.Invalid, "Ed25519")
}
