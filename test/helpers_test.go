package test

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/identity"
)

func mustParse(t *testing.T, k hub.PubKey) crypto.PubKey {
	t.Helper()
	pub, err := identity.Parse(k)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
