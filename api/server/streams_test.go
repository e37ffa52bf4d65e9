package server

import (
	"context"
	"strings"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
)

func TestStreamCaps(t *testing.T) {
	s := newStreams(2, 3)
	user := func(id hub.PubKey) hub.Principal {
		return hub.Principal{Kind: hub.UserPrincipal, Account: "dev", Identity: id, APIKey: "k"}
	}
	var done []func()
	add := func(p hub.Principal) error {
		_, cancel := context.WithCancelCause(context.Background())
		release, err := s.add(p, cancel)
		if err == nil {
			done = append(done, release)
		}
		return err
	}
	for _, id := range []hub.PubKey{"a", "a"} {
		if err := add(user(id)); err != nil {
			t.Fatalf("stream of %s under the caps: %v", id, err)
		}
	}
	if err := add(user("a")); !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-streams-per-principal") {
		t.Fatalf("a third stream of one identity gave %v; want Exhausted naming --max-streams-per-principal", err)
	}
	if err := add(user("b")); err != nil {
		t.Fatalf("another identity's stream: %v", err)
	}
	if err := add(user("c")); !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-streams-per-account") {
		t.Fatalf("a fourth stream of one account gave %v; want Exhausted naming --max-streams-per-account", err)
	}
	done[0]()
	if err := add(user("c")); err != nil {
		t.Fatalf("a stream after one closed: %v", err)
	}
}

func TestStreamRevoke(t *testing.T) {
	s := newStreams(10, 10)
	open := func(p hub.Principal) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		if _, err := s.add(p, cancel); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	revoked := open(hub.Principal{Kind: hub.DeveloperPrincipal, Account: "dev", APIKey: "k1"})
	kept := open(hub.Principal{Kind: hub.DeveloperPrincipal, Account: "dev", APIKey: "k2"})
	s.revoke(auth.Revocation{APIKey: "k1", Reason: "API key has been invalidated"})
	if err := context.Cause(revoked); !errors.Is(errors.Unauthenticated, err) || !strings.Contains(err.Error(), "invalidated") {
		t.Fatalf("the revoked key's stream ended with %v; want Unauthenticated with the reason", err)
	}
	if kept.Err() != nil {
		t.Fatalf("another key's stream ended: %v", context.Cause(kept))
	}
}
