package threadsclient_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/test/testhub"
)

// setup runs a real hubd, signs up a developer and returns a threads
// client, an account client and the developer's session context.
func setup(t *testing.T) (*threadsclient.Client, *hubclient.Client, context.Context) {
	t.Helper()
	h := testhub.Start(t, nil)
	conn := h.Conn
	hc := hubclient.New(conn)
	s, err := hc.Signup(context.Background(), "alice", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return threadsclient.New(conn), hc, client.WithSession(context.Background(), s.ID)
}

// subject returns the sub claim of a JWT, without checking its signature:
// the test only asks which identity the token was issued to.
func subject(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token claims: %v", err)
	}
	var claims struct{ Sub string }
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatalf("token claims: %v", err)
	}
	return claims.Sub
}

// TestGetToken runs the full challenge exchange with every kind of key.
func TestGetToken(t *testing.T) {
	tc, hc, ctx := setup(t)
	for _, typ := range []hub.KeyType{hub.UserKey, hub.AccountKey} {
		for _, secure := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v key secure=%v", typ, secure), func(t *testing.T) {
				k, err := hc.CreateKey(ctx, typ, secure)
				if err != nil {
					t.Fatal(err)
				}
				priv, pub := identitytest.New(t)
				tok, err := tc.GetToken(testhub.WithKey(t, k), priv)
				if err != nil {
					t.Fatal(err)
				}
				if sub := subject(t, tok); sub != string(pub) {
					t.Errorf("token issued to %q, want %q", sub, pub)
				}
				// A second exchange for the same identity works too.
				if _, err := tc.GetToken(testhub.WithKey(t, k), priv); err != nil {
					t.Errorf("second GetToken: %v", err)
				}
			})
		}
	}
}

// wrongKey signs with one key but claims another's public key, so its
// signature of the challenge does not verify.
type wrongKey struct {
	crypto.PrivKey
	claimed crypto.PrivKey
}

func (w wrongKey) GetPublic() crypto.PubKey { return w.claimed.GetPublic() }

func TestGetTokenRefused(t *testing.T) {
	tc, hc, ctx := setup(t)
	secure, err := hc.CreateKey(ctx, hub.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	invalidated, err := hc.CreateKey(ctx, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := hc.InvalidateKey(ctx, invalidated.Key); err != nil {
		t.Fatal(err)
	}
	priv, _ := identitytest.New(t)
	other, _ := identitytest.New(t)
	signed := func(secret string, until time.Time) context.Context {
		c, err := client.WithAPISig(context.Background(), secure.Key, secret, until)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	unsigned, err := client.WithAPIKey(context.Background(), secure.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ctx  context.Context
		priv crypto.PrivKey
		hint string
	}{
		{"no API key", context.Background(), priv, "missing credentials"},
		{"session instead of an API key", ctx, priv, "needs an API key"},
		{"unknown API key", testhub.WithKey(t, hub.APIKey{Key: "bnosuchkey"}), priv, "API key not found"},
		{"invalidated key", testhub.WithKey(t, invalidated), priv, "invalidated"},
		{"secure key unsigned", unsigned, priv, "this API key is secure"},
		{"expired signature", signed(secure.Secret, time.Now().Add(-time.Minute)), priv, "expired"},
		{"signature too far ahead", signed(secure.Secret, time.Now().Add(365*24*time.Hour)), priv, "ahead"},
		{"signature with another secret", signed(invalidated.Secret, time.Now().Add(time.Hour)), priv, "does not match the API key"},
		{"wrong signature of the challenge", testhub.WithKey(t, secure), wrongKey{PrivKey: priv, claimed: other}, "does not match the challenge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := tc.GetToken(tt.ctx, tt.priv)
			if tok != "" {
				t.Errorf("got token %q", tok)
			}
			errorstest.WantKind(t, err, errors.Unauthenticated, tt.hint)
		})
	}

	if _, err := tc.GetToken(testhub.WithKey(t, secure), nil); !errors.Is(errors.Invalid, err) {
		t.Errorf("GetToken(nil) = %v, want Invalid", err)
	}
}
