// Package identitytest makes identities for tests.
package identitytest

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/identity"
)

// New returns a fresh identity's private key and its public key's string
// form (identity.String), failing t if either cannot be made.
func New(t testing.TB) (crypto.PrivKey, hub.PubKey) {
	t.Helper()
	priv, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := identity.String(priv.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}
