package abuse

import (
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

// TestIdentityFlood: an app that mints fresh identities, each of which
// would get a whole quota of its own, is refused new ones past
// --max-new-identities-per-app with ResourceExhausted. A refused identity
// is not recorded (it is refused again), identities the app has seen still
// get tokens and are served, and another app signs in new users as before.
func TestIdentityFlood(t *testing.T) {
	const limit = 5
	h := startHub(t, "--max-new-identities-per-app", "5", "--new-identities-window", "24h")
	attacker, other := newTenant(t, h, "flooder"), newTenant(t, h, "bystander")
	key := testhub.WithKey(t, attacker.AppKey)
	fresh := func() crypto.PrivKey {
		priv, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		return priv
	}

	// newTenant signed in one identity; the rest of the budget, then
	// refusals. The loop is bounded whatever the hub does.
	admitted, refused := 1, 0
	var refusedKey crypto.PrivKey
	for i := 0; i < 4*limit && refused < 3; i++ {
		priv := fresh()
		_, err := attacker.Threads.GetToken(key, priv)
		switch {
		case err == nil:
			if refused > 0 {
				t.Fatalf("a new identity got a token after %d were refused", refused)
			}
			admitted++
		case errors.Is(errors.Exhausted, err):
			if msg := errors.Message(err); !strings.Contains(msg, "max-new-identities-per-app") || !strings.Contains(msg, "seen before still get tokens") {
				t.Fatalf("refusal says %q; want what the limit is and that known identities are not affected", msg)
			}
			refused++
			refusedKey = priv
		default:
			t.Fatalf("GetToken for new identity %d: %v; want a token or ResourceExhausted", i, err)
		}
	}
	if admitted != limit || refused != 3 {
		t.Fatalf("admitted %d new identities and refused %d; want %d admitted, then refusals", admitted, refused, limit)
	}
	if _, err := attacker.Threads.GetToken(key, refusedKey); !errors.Is(errors.Exhausted, err) {
		t.Fatalf("a refused identity asked again: %v; want ResourceExhausted (it must not have been recorded)", err)
	}

	// Known identities still get tokens, and are served.
	if _, err := attacker.Threads.GetToken(key, attacker.UserKey); err != nil {
		t.Fatalf("an identity the app has seen: %v", err)
	}
	attacker.mustBeServed(t)

	// Another app is not affected.
	for range 3 {
		other.newUser(t)
	}
	other.mustBeServed(t)
	h.alive(t)
}
