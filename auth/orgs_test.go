package auth

import (
	"context"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// TestInvitationsLapseWithTheirSender checks that an invitation sent by a
// member who has since left can no longer admit anyone, whether it is
// followed afterwards or was followed before and applies at sign-up.
func TestInvitationsLapseWithTheirSender(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	asOrg := func(sess hub.Session) hub.Principal {
		return f.auth(t, Credentials{Session: sess.ID, Org: f.org.Slug}, SessionOnly)
	}
	// bob joins the org through alice's invitation.
	tok, err := f.s.InviteToOrg(ctx, asOrg(f.aliceSess), "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, joined, err := f.s.AcceptInvite(ctx, tok); err != nil || !joined {
		t.Fatalf("bob's invitation: joined %v, %v", joined, err)
	}
	bobP := asOrg(f.bobSess)
	// bob invites two new e-mails; one is followed before bob leaves.
	early, err := f.s.InviteToOrg(ctx, bobP, "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	late, err := f.s.InviteToOrg(ctx, bobP, "dave@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, joined, err := f.s.AcceptInvite(ctx, early); err != nil || joined {
		t.Fatalf("carol's invitation before sign-up: joined %v, %v", joined, err)
	}
	if err := f.s.LeaveOrg(ctx, bobP); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.AcceptInvite(ctx, late); !errors.Is(errors.NotExist, err) {
		t.Fatalf("invitation from a former member: %v", err)
	}
	_, carol, err := f.s.Signup(ctx, "carol", "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.s.Authenticate(ctx, Credentials{Session: carol.ID, Org: f.org.Slug}, SessionOnly)
	if !errors.Is(errors.Permission, err) {
		t.Fatalf("carol joined through a lapsed invitation: %v", err)
	}
}

// TestOwnership covers the rules that protect an org from its members.
func TestOwnership(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.auth(t, Credentials{Session: f.aliceSess.ID}, SessionOnly)
	aliceOrg := f.auth(t, Credentials{Session: f.aliceSess.ID, Org: f.org.Slug}, SessionOnly)
	tok, _ := f.s.InviteToOrg(ctx, aliceOrg, "bob@example.com")
	f.s.AcceptInvite(ctx, tok)
	bobOrg := f.auth(t, Credentials{Session: f.bobSess.ID, Org: f.org.Slug}, SessionOnly)

	if err := f.s.RemoveOrg(ctx, bobOrg); !errors.Is(errors.Permission, err) {
		t.Fatalf("a member removed the org: %v", err)
	}
	if err := f.s.LeaveOrg(ctx, aliceOrg); !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("the owner left: %v", err)
	}
	if err := f.s.DestroyAccount(ctx, alice); !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("an owner's account was destroyed: %v", err)
	}
	if err := f.s.RemoveOrg(ctx, aliceOrg); err != nil {
		t.Fatal(err)
	}
	// The org's keys went with it.
	if _, err := f.s.Authenticate(ctx, f.signed(t, f.orgAcct), Authenticated); !errors.Is(errors.Unauthenticated, err) {
		t.Fatalf("a removed org's key still works: %v", err)
	}
	if err := f.s.DestroyAccount(ctx, alice); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Credentials{{Session: f.aliceSess.ID}, f.signed(t, f.devAcct)} {
		if _, err := f.s.Authenticate(ctx, c, Authenticated); !errors.Is(errors.Unauthenticated, err) {
			t.Fatalf("a destroyed account's credentials still work: %v", err)
		}
	}
	if err := f.s.IsUsernameAvailable(ctx, "alice"); err != nil {
		t.Fatalf("a destroyed account's name is still taken: %v", err)
	}
}
