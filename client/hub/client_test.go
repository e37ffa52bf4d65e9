package hubclient_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

// start runs a real hubd (dev mode: no e-mail confirmation) and returns a
// client dialled with client.Dial, as an application would.
func start(t *testing.T) (*testhub.Hub, *hubclient.Client) {
	t.Helper()
	h := testhub.Start(t, nil)
	return h, hubclient.New(h.Conn)
}

// signup creates a developer NAME with NAME@example.com and returns a
// context carrying its session.
func signup(t *testing.T, c *hubclient.Client, name string) (context.Context, hubclient.Session) {
	t.Helper()
	s, err := c.Signup(context.Background(), name, name+"@example.com")
	if err != nil {
		t.Fatalf("Signup %s: %v", name, err)
	}
	return client.WithSession(context.Background(), s.ID), s
}

// TestBuildInfo checks every field against the same call made with the
// generated client.
func TestBuildInfo(t *testing.T) {
	h, c := start(t)
	bi, err := c.BuildInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hubdpb.NewAPIServiceClient(h.Conn).BuildInfo(context.Background(), &hubdpb.BuildInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := hubclient.BuildInfo{
		Version: raw.Version, GitCommit: raw.GitCommit, GitBranch: raw.GitBranch,
		GitState: raw.GitState, GitSummary: raw.GitSummary, BuildDate: raw.BuildDate,
	}
	if bi != want || bi.Version == "" {
		t.Errorf("BuildInfo = %+v, want %+v with a version", bi, want)
	}
}

func TestSessions(t *testing.T) {
	_, c := start(t)
	bg := context.Background()
	ctx, s := signup(t, c, "alice")
	if s.ID == "" {
		t.Fatal("Signup returned no session ID")
	}
	if _, err := identity.Parse(s.Key); err != nil {
		t.Fatalf("Signup key %q is not a public key string: %v", s.Key, err)
	}

	info, err := c.SessionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (hubclient.SessionInfo{Key: s.Key, Username: "alice", Email: "alice@example.com"}); info != want {
		t.Errorf("SessionInfo = %+v, want %+v", info, want)
	}

	// The private identity is the account's: its public half is the key
	// Signup returned.
	priv, err := c.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pub, err := identity.String(priv.GetPublic()); err != nil || pub != s.Key {
		t.Errorf("Identity's public key = %q (%v), want %q", pub, err, s.Key)
	}

	for _, who := range []string{"alice", "alice@example.com"} {
		s2, err := c.Signin(bg, who)
		if err != nil {
			t.Fatalf("Signin %s: %v", who, err)
		}
		if s2.Key != s.Key || s2.ID == "" || s2.ID == s.ID {
			t.Errorf("Signin %s = %+v; want key %s and a new session", who, s2, s.Key)
		}
	}

	if err := c.IsUsernameAvailable(bg, "bob"); err != nil {
		t.Errorf("IsUsernameAvailable(bob) = %v, want nil", err)
	}

	if err := c.Signout(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.SessionInfo(ctx)
	errorstest.WantKind(t, err, errors.Unauthenticated, "sign in again")
}

// TestErrors checks that the server's refusals arrive with their kind and
// the server's message.
func TestErrors(t *testing.T) {
	_, c := start(t)
	bg := context.Background()
	ctx, _ := signup(t, c, "alice")
	k, err := c.CreateKey(ctx, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	keyCtx, err := client.WithAPIKey(bg, k.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		kind errors.Kind
		hint string
	}{
		{"duplicate username", func() error { _, err := c.Signup(bg, "alice", "other@example.com"); return err },
			errors.Exist, `username "alice" is taken`},
		{"duplicate e-mail", func() error { _, err := c.Signup(bg, "alice2", "alice@example.com"); return err },
			errors.Exist, "already has an account"},
		{"username taken", func() error { return c.IsUsernameAvailable(bg, "alice") },
			errors.Exist, "taken"},
		{"bad username", func() error { return c.IsUsernameAvailable(bg, "a") },
			errors.Invalid, "3 to 32"},
		{"unknown developer", func() error { _, err := c.Signin(bg, "nobody"); return err },
			errors.NotExist, "sign up first"},
		{"no session", func() error { _, err := c.SessionInfo(bg); return err },
			errors.Unauthenticated, "x-textile-session"},
		{"unknown session", func() error { _, err := c.SessionInfo(client.WithSession(bg, "bnosuchsession")); return err },
			errors.Unauthenticated, "session not found"},
		{"API key on a session call", func() error { _, err := c.ListKeys(keyCtx); return err },
			errors.Permission, "needs a developer session"},
		{"unknown org", func() error { _, err := c.GetOrg(client.WithOrg(ctx, "nope")); return err },
			errors.NotExist, `org "nope" not found`},
		{"org call without an org", func() error { return c.LeaveOrg(ctx) },
			errors.Invalid, "x-textile-org"},
		{"unknown key", func() error { return c.InvalidateKey(ctx, "bnokey") },
			errors.NotExist, "not found"},
		{"bad org name", func() error { _, _, err := c.IsOrgNameAvailable(ctx, "!!"); return err },
			errors.Invalid, "3 to 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { errorstest.WantKind(t, tt.call(), tt.kind, tt.hint) })
	}
}

func TestKeys(t *testing.T) {
	_, c := start(t)
	ctx, _ := signup(t, c, "alice")

	var created []hub.APIKey
	for _, typ := range []hub.KeyType{hub.AccountKey, hub.UserKey} {
		for _, secure := range []bool{true, false} {
			k, err := c.CreateKey(ctx, typ, secure)
			if err != nil {
				t.Fatalf("CreateKey(%v, %v): %v", typ, secure, err)
			}
			if !strings.HasPrefix(k.Key, "b") || !strings.HasPrefix(k.Secret, "b") || k.Key == k.Secret {
				t.Errorf("CreateKey(%v, %v) key %q secret %q; want two multibase base32 strings", typ, secure, k.Key, k.Secret)
			}
			if k.Type != typ || k.Secure != secure || !k.Valid {
				t.Errorf("CreateKey(%v, %v) = %+v", typ, secure, k)
			}
			created = append(created, k)
		}
	}
	keys, err := c.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(created) {
		t.Fatalf("ListKeys = %+v, want %+v", keys, created)
	}
	for i := range created {
		if keys[i] != created[i] {
			t.Errorf("ListKeys[%d] = %+v, want %+v", i, keys[i], created[i])
		}
	}

	if err := c.InvalidateKey(ctx, created[0].Key); err != nil {
		t.Fatal(err)
	}
	keys, err = c.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if keys[0].Valid || !keys[1].Valid {
		t.Errorf("after InvalidateKey(%s), ListKeys = %+v; want only the first invalid", created[0].Key, keys)
	}

	// Another developer cannot see or invalidate alice's keys.
	bctx, _ := signup(t, c, "bob")
	if keys, err := c.ListKeys(bctx); err != nil || len(keys) != 0 {
		t.Errorf("bob's ListKeys = %+v, %v; want none", keys, err)
	}
	errorstest.WantKind(t, c.InvalidateKey(bctx, created[1].Key), errors.NotExist, "not found")
}

func TestOrgs(t *testing.T) {
	// Invitations travel by e-mail only: a real SMTP server receives them.
	mp := testhub.StartMailpit(t)
	h := testhub.Start(t, func(cfg *daemon.Config) { cfg.SMTPAddr, cfg.SMTPFrom = mp.SMTPAddr, "hub@hub.test" })
	c := hubclient.New(h.Conn)
	ctx, alice := signup(t, c, "alice")

	slug, host, err := c.IsOrgNameAvailable(ctx, "Acme Inc")
	if err != nil || slug != "acme-inc" || host != "http://"+h.Addrs.Gateway {
		t.Fatalf("IsOrgNameAvailable = %q, %q, %v; want acme-inc, http://%s", slug, host, err, h.Addrs.Gateway)
	}
	before := time.Now().Add(-time.Second)
	org, err := c.CreateOrg(ctx, "Acme Inc")
	if err != nil {
		t.Fatal(err)
	}
	if org.Type != hub.Organization || org.Name != "Acme Inc" || org.Slug != "acme-inc" || org.Key == alice.Key {
		t.Errorf("CreateOrg = %+v", org)
	}
	if org.CreatedAt.Before(before) || org.CreatedAt.After(time.Now()) {
		t.Errorf("CreatedAt = %v, want about now", org.CreatedAt)
	}
	owner := hub.Member{Key: alice.Key, Username: "alice", Role: hub.RoleOwner}
	if len(org.Members) != 1 || org.Members[0] != owner {
		t.Errorf("Members = %+v, want [%+v]", org.Members, owner)
	}
	_, _, err = c.IsOrgNameAvailable(ctx, "ACME inc")
	errorstest.WantKind(t, err, errors.Exist, "taken")

	octx := client.WithOrg(ctx, slug)
	got, err := c.GetOrg(octx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key != org.Key || got.Name != org.Name || got.Slug != slug || !got.CreatedAt.Equal(org.CreatedAt) || len(got.Members) != 1 {
		t.Errorf("GetOrg = %+v, want %+v", got, org)
	}
	list, err := c.ListOrgs(ctx)
	if err != nil || len(list) != 1 || list[0].Key != org.Key {
		t.Errorf("ListOrgs = %+v, %v; want [%s]", list, err, slug)
	}
	// With the org in the context, the call acts as the org: its own
	// keys; its private identity never leaves the hub.
	_, err = c.Identity(octx)
	errorstest.WantKind(t, err, errors.FailedPrecondition, "never leaves the hub")
	if _, err := c.CreateKey(octx, hub.AccountKey, true); err != nil {
		t.Fatal(err)
	}
	if keys, err := c.ListKeys(ctx); err != nil || len(keys) != 0 {
		t.Errorf("alice's own keys = %+v, %v; want none (the key is the org's)", keys, err)
	}

	// An existing developer joins as soon as the invitation link is
	// followed.
	bctx, bob := signup(t, c, "bob")
	if err := c.InviteToOrg(octx, "bob@example.com"); err != nil {
		t.Fatalf("InviteToOrg: %v", err)
	}
	if code, page := testhub.Follow(t, testhub.Link(t, mp.Next("bob@example.com").Text)); code != http.StatusOK || !strings.Contains(page, "now a member") {
		t.Fatalf("following the invitation: %d\n%s", code, page)
	}
	got, err = c.GetOrg(client.WithOrg(bctx, slug))
	if err != nil {
		t.Fatal(err)
	}
	member := hub.Member{Key: bob.Key, Username: "bob", Role: hub.RoleMember}
	if len(got.Members) != 2 || got.Members[0] != owner || got.Members[1] != member {
		t.Errorf("Members = %+v, want [%+v %+v]", got.Members, owner, member)
	}

	errorstest.WantKind(t, c.RemoveOrg(client.WithOrg(bctx, slug)), errors.Permission, "only the owner")
	errorstest.WantKind(t, c.LeaveOrg(octx), errors.FailedPrecondition, "owner cannot leave")
	if err := c.LeaveOrg(client.WithOrg(bctx, slug)); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetOrg(client.WithOrg(bctx, slug))
	errorstest.WantKind(t, err, errors.Permission, "not a member")

	errorstest.WantKind(t, c.DestroyAccount(ctx), errors.FailedPrecondition, "acme-inc")
	if err := c.RemoveOrg(octx); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetOrg(octx)
	errorstest.WantKind(t, err, errors.NotExist, "not found")
	if err := c.DestroyAccount(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Signin(context.Background(), "alice")
	errorstest.WantKind(t, err, errors.NotExist, "sign up first")
}
