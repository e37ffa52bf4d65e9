package testhub

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/identity"
)

// SignIn runs GetToken for the identity priv with the API key k and
// returns a context carrying the key and the token: the credentials priv
// calls with as a user of k's app.
func SignIn(t testing.TB, tc *threadsclient.Client, k hub.APIKey, priv crypto.PrivKey) context.Context {
	t.Helper()
	ctx := WithKey(t, k)
	tok, err := tc.GetToken(ctx, priv)
	if err != nil {
		t.Fatalf("GetToken with key %s: %v", k.Key, err)
	}
	return client.WithToken(ctx, tok)
}

// NewUser signs a fresh identity in with the API key k (SignIn), and
// returns its credentials and its private key.
func NewUser(t testing.TB, tc *threadsclient.Client, k hub.APIKey) (context.Context, crypto.PrivKey) {
	t.Helper()
	priv, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return SignIn(t, tc, k, priv), priv
}
