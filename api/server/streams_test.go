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
	s := newStreams(2, 3, allowOrgs)
	user := func(id hub.PubKey) hub.Principal {
		return hub.Principal{Kind: hub.UserPrincipal, Account: "dev", Identity: id, APIKey: "k"}
	}
	var done []func()
	add := func(p hub.Principal) error {
		_, cancel := context.WithCancelCause(context.Background())
		release, err := s.add(p, s.epoch(), cancel)
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
	s := newStreams(10, 10, allowOrgs)
	revoked := mustOpen(t, s, hub.Principal{Kind: hub.DeveloperPrincipal, Account: "dev", APIKey: "k1"})
	kept := mustOpen(t, s, hub.Principal{Kind: hub.DeveloperPrincipal, Account: "dev", APIKey: "k2"})
	s.revoke(auth.Revocation{APIKey: "k1", Reason: "API key has been invalidated"})
	if err := context.Cause(revoked); !errors.Is(errors.Unauthenticated, err) || !strings.Contains(err.Error(), "invalidated") {
		t.Fatalf("the revoked key's stream ended with %v; want Unauthenticated with the reason", err)
	}
	if kept.Err() != nil {
		t.Fatalf("another key's stream ended: %v", context.Cause(kept))
	}
}

// allowOrgs is an org access check that every principal passes.
func allowOrgs(hub.Principal) error { return nil }

// TestStreamRevokeCrossingAuth: a revocation that comes while a stream is
// being authenticated, before it is registered, still ends it.
func TestStreamRevokeCrossingAuth(t *testing.T) {
	s := newStreams(10, 10, allowOrgs)
	p := hub.Principal{Kind: hub.DeveloperPrincipal, Account: "dev", APIKey: "k1"}
	epoch := s.epoch()
	s.revoke(auth.Revocation{APIKey: "k1", Reason: "API key has been invalidated"})
	s.revoke(auth.Revocation{APIKey: "k9", Reason: "another key"})
	_, cancel := context.WithCancelCause(context.Background())
	if _, err := s.add(p, epoch, cancel); !errors.Is(errors.Unauthenticated, err) {
		t.Fatalf("a stream authenticated across its key's revocation was registered (%v); want Unauthenticated", err)
	}
	if _, err := s.add(p, s.epoch(), cancel); err != nil {
		t.Fatalf("a stream authenticated after the revocations (as the door would refuse it): %v", err)
	}
}

// TestStreamRevokeOrg: a revocation about an org ends the streams acting
// as it whose access the org check now refuses, with its error.
func TestStreamRevokeOrg(t *testing.T) {
	gone := hub.PubKey("creator")
	s := newStreams(10, 10, func(p hub.Principal) error {
		if p.APIKey == "made-by-creator" {
			return errors.E(errors.Permission, "the API key this call used no longer acts for the org")
		}
		return nil
	})
	orgKey := mustOpen(t, s, hub.Principal{Kind: hub.OrgPrincipal, Account: "org", APIKey: "made-by-creator"})
	member := mustOpen(t, s, hub.Principal{Kind: hub.OrgPrincipal, Account: "org", Member: "other", Session: "s"})
	s.revoke(auth.Revocation{Account: "org", Member: gone, Reason: "creator left org"})
	if err := context.Cause(orgKey); !errors.Is(errors.Permission, err) {
		t.Fatalf("the stream with the key of a member who left ended with %v; want Permission", err)
	}
	if member.Err() != nil {
		t.Fatalf("another member's stream ended: %v", context.Cause(member))
	}
}

// mustOpen registers a stream of p with s and returns its context,
// which a revocation cancels.
func mustOpen(t *testing.T, s *streams, p hub.Principal) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	if _, err := s.add(p, s.epoch(), cancel); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// TestStreamWatchUncapped: a sign-in's stream, registered by watch, takes
// none of its account's or principal's streams, and a revocation still
// ends it.
func TestStreamWatchUncapped(t *testing.T) {
	s := newStreams(1, 1, allowOrgs)
	// A user group key's sign-in names no identity yet.
	signin := hub.Principal{Kind: hub.UserPrincipal, Account: "dev", APIKey: "k"}
	var ctxs []context.Context
	for range 3 {
		ctx, cancel := context.WithCancelCause(context.Background())
		if _, err := s.watch(signin, s.epoch(), cancel); err != nil {
			t.Fatalf("a sign-in past the stream caps: %v; sign-ins count against none", err)
		}
		ctxs = append(ctxs, ctx)
	}
	mustOpen(t, s, hub.Principal{Kind: hub.DeveloperPrincipal, Account: "dev", APIKey: "k2"})
	s.revoke(auth.Revocation{APIKey: "k", Reason: "API key has been invalidated"})
	for i, ctx := range ctxs {
		if err := context.Cause(ctx); !errors.Is(errors.Unauthenticated, err) {
			t.Fatalf("sign-in %d ended with %v after its key's revocation; want Unauthenticated", i, err)
		}
	}
}
