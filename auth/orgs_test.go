package auth

import (
	"context"
	"slices"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
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
	if err := f.s.InviteToOrg(ctx, asOrg(f.aliceSess), "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, joined, err := f.s.AcceptInvite(ctx, f.invitation(t, "bob@example.com")); err != nil || !joined {
		t.Fatalf("bob's invitation: joined %v, %v", joined, err)
	}
	bobP := asOrg(f.bobSess)
	// bob invites two new e-mails; one is followed before bob leaves.
	for _, to := range []string{"carol@example.com", "dave@example.com"} {
		if err := f.s.InviteToOrg(ctx, bobP, to); err != nil {
			t.Fatal(err)
		}
	}
	early, late := f.invitation(t, "carol@example.com"), f.invitation(t, "dave@example.com")
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
	aliceOrg, bobOrg := f.bobJoins(t)

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

// TestOrgAccessEndsWithMembership checks that nothing a member can obtain
// acts as the org once they have left it or it is gone: the org's private
// key is never handed out, an org account key works only while its
// creator is a member and is shown to no other member, no token names an
// account's own identity, and a token reaches an account's resources only
// as a user of that (existing) account.
func TestOrgAccessEndsWithMembership(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	aliceOrg, bobOrg := f.bobJoins(t)

	for name, p := range map[string]hub.Principal{"owner": aliceOrg, "member": bobOrg} {
		if _, err := f.s.Identity(ctx, p); !errors.Is(errors.FailedPrecondition, err) {
			t.Errorf("Identity as the org's %s: %v; want FailedPrecondition", name, err)
		}
	}
	if priv, err := f.s.Identity(ctx, f.auth(t, Credentials{Session: f.bobSess.ID}, SessionOnly)); err != nil {
		t.Errorf("a developer's own Identity: %v", err)
	} else if pub, _ := identity.String(priv.GetPublic()); pub != f.bob.Key {
		t.Errorf("a developer's own Identity is %s; want %s", pub, f.bob.Key)
	}

	bobKey, err := f.s.CreateKey(ctx, bobOrg, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.auth(t, f.signed(t, bobKey), Authenticated); p.Kind != hub.OrgPrincipal || p.Account != f.org.Key {
		t.Fatalf("bob's org key acts as %+v; want the org", p)
	}
	listed := func(p hub.Principal) []string {
		keys, err := f.s.ListKeys(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range keys {
			out = append(out, k.Key)
		}
		slices.Sort(out) // the test's clock gives every key one CreatedAt
		return out
	}
	if got, want := listed(bobOrg), sorted(f.orgUser.Key, bobKey.Key); !slices.Equal(got, want) {
		t.Errorf("bob lists %v; want the user group key and his own account key %v", got, want)
	}
	if got, want := listed(aliceOrg), sorted(f.orgAcct.Key, f.orgUser.Key, bobKey.Key); !slices.Equal(got, want) {
		t.Errorf("the owner lists %v; want every key %v", got, want)
	}

	// A token for the org's own identity is neither issued nor honoured.
	orgP := f.auth(t, f.signed(t, f.orgUser), APIKeyOnly)
	if _, err := f.s.IssueToken(ctx, orgP, f.org.Key, []byte("c"), []byte("s")); !errors.Is(errors.Permission, err) {
		t.Errorf("a token for the org's identity was issued: %v", err)
	}
	orgTok, err := f.s.tokens.issue(f.org.Key, f.org.Key, f.now)
	if err != nil {
		t.Fatal(err)
	}
	withOrgToken := f.signed(t, f.orgUser)
	withOrgToken.Token = orgTok
	if _, err := f.s.Authenticate(ctx, withOrgToken, Authenticated); !errors.Is(errors.Unauthenticated, err) {
		t.Errorf("a token naming the org was honoured with the org's key: %v", err)
	}
	reach := func(tok string) hub.PubKey {
		p, _, err := f.s.GatewayPrincipal(ctx, tok, f.org.Key)
		if err != nil {
			t.Fatal(err)
		}
		return p.Account
	}
	if got := reach(orgTok); got != "" {
		t.Errorf("a token naming the org reaches %s's resources", got)
	}
	if got := reach(f.orgToken); got != f.org.Key {
		t.Errorf("the org app's user reaches %q; want the org", got)
	}
	// The token of a user of another app reaches nothing of the org's.
	stranger, err := f.s.tokens.issue(f.userKey, f.alice.Key, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if got := reach(stranger); got != "" {
		t.Errorf("an identity the org's apps never saw reaches %s", got)
	}

	bobKeyP := f.auth(t, f.signed(t, bobKey), Authenticated)
	for _, p := range []hub.Principal{bobOrg, bobKeyP} {
		if err := f.s.OrgAccess(ctx, p); err != nil {
			t.Fatalf("OrgAccess for a member: %v", err)
		}
	}
	var revoked []Revocation
	defer f.s.OnRevoke(func(r Revocation) { revoked = append(revoked, r) })()
	if err := f.s.LeaveOrg(ctx, bobOrg); err != nil {
		t.Fatal(err)
	}
	if len(revoked) != 1 || !revoked[0].Covers(bobOrg) {
		t.Errorf("LeaveOrg told of revocations %+v; want one that covers bob acting as the org", revoked)
	}
	for _, p := range []hub.Principal{bobOrg, bobKeyP} {
		if err := f.s.OrgAccess(ctx, p); !errors.Is(errors.Permission, err) {
			t.Errorf("OrgAccess after leaving: %v; want Permission", err)
		}
	}
	if _, err := f.s.Authenticate(ctx, f.signed(t, bobKey), Authenticated); !errors.Is(errors.Unauthenticated, err) {
		t.Errorf("bob's org key works after he left: %v", err)
	}
	if p := f.auth(t, f.signed(t, f.orgAcct), Authenticated); p.Account != f.org.Key {
		t.Errorf("the owner's org key stopped working when bob left: %+v", p)
	}
	if err := f.s.RemoveOrg(ctx, aliceOrg); err != nil {
		t.Fatal(err)
	}
	if got := reach(f.orgToken); got != "" {
		t.Errorf("a removed org's app user still reaches %s", got)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// bobJoins makes bob a member of alice's org through an e-mailed invitation
// and returns alice and bob acting as the org.
func (f *fixture) bobJoins(t *testing.T) (aliceOrg, bobOrg hub.Principal) {
	t.Helper()
	ctx := context.Background()
	aliceOrg = f.auth(t, Credentials{Session: f.aliceSess.ID, Org: f.org.Slug}, SessionOnly)
	if err := f.s.InviteToOrg(ctx, aliceOrg, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.AcceptInvite(ctx, f.invitation(t, "bob@example.com")); err != nil {
		t.Fatal(err)
	}
	return aliceOrg, f.auth(t, Credentials{Session: f.bobSess.ID, Org: f.org.Slug}, SessionOnly)
}

// TestOrgLinkEndsWithMembership: a private bucket's link issued to a member
// acting as the org (through a session, or the member's org account key)
// acts as the org while the member is one, and is refused once they leave;
// a developer's link acts as the developer.
func TestOrgLinkEndsWithMembership(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, bobOrg := f.bobJoins(t)
	bobKey, err := f.s.CreateKey(ctx, bobOrg, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	bobKeyP := f.auth(t, f.signed(t, bobKey), Authenticated)
	aliceP := f.auth(t, Credentials{Session: f.aliceSess.ID}, Authenticated)
	link := func(p hub.Principal) string {
		l, err := f.s.IssueLink(ctx, p, "bthread", "bkey", "")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	viaSession, viaKey, alices := link(bobOrg), link(bobKeyP), link(aliceP)
	for name, l := range map[string]string{"session": viaSession, "org account key": viaKey} {
		p, _, err := f.s.GatewayPrincipal(ctx, l, f.org.Key)
		if err != nil || p.Kind != hub.OrgPrincipal || p.Account != f.org.Key || p.Member != f.bob.Key {
			t.Fatalf("a link from bob's %s acts as %+v (%v); want the org, through bob", name, p, err)
		}
	}
	if p, _, err := f.s.GatewayPrincipal(ctx, alices, f.alice.Key); err != nil || p.Kind != hub.DeveloperPrincipal || p.Owner() != f.alice.Key {
		t.Fatalf("alice's own link acts as %+v (%v); want alice", p, err)
	}
	if p, _, err := f.s.GatewayPrincipal(ctx, alices, f.org.Key); err != nil || p.Account != "" {
		t.Fatalf("alice's own link toward the org acts as %+v (%v); want a bare identity", p, err)
	}
	if err := f.s.LeaveOrg(ctx, bobOrg); err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]string{"session": viaSession, "org account key": viaKey} {
		if _, _, err := f.s.GatewayPrincipal(ctx, l, f.org.Key); !errors.Is(errors.Permission, err) {
			t.Errorf("a link from bob's %s after bob left: %v; want Permission", name, err)
		}
	}
}
