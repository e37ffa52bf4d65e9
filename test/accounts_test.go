// Package test holds Hub's end-to-end tests: real hubd daemons on loopback
// ports, driven through the public Go clients.
package test

import (
	"context"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/test/testhub"
)

// signup creates a developer and returns a context carrying its session.
func signup(t testing.TB, hc *hubclient.Client, name string) (context.Context, hubclient.Session) {
	t.Helper()
	sess, err := hc.Signup(context.Background(), name, name+"@example.com")
	if err != nil {
		t.Fatalf("signup %s: %v", name, err)
	}
	return client.WithSession(context.Background(), sess.ID), sess
}

func TestSignupSigninSession(t *testing.T) {
	h := testhub.Start(t, nil)
	hc := hubclient.New(h.Conn)
	ctx, sess := signup(t, hc, "alice")
	info, err := hc.SessionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Username != "alice" || info.Email != "alice@example.com" || info.Key != sess.Key {
		t.Fatalf("session info %+v does not match sign-up %+v", info, sess)
	}
	for _, who := range []string{"alice", "ALICE", "alice@example.com"} {
		s2, err := hc.Signin(context.Background(), who)
		if err != nil {
			t.Fatalf("signin %s: %v", who, err)
		}
		if s2.Key != sess.Key || s2.ID == sess.ID {
			t.Fatalf("signin %s gave %+v; want the same key and a new session", who, s2)
		}
	}
	priv, err := hc.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.GetPublic().Equals(mustParse(t, sess.Key)) {
		t.Fatal("GetIdentity returned another identity than the account's")
	}
	if err := hc.Signout(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = hc.SessionInfo(ctx)
	errorstest.WantKind(t, err, errors.Unauthenticated, "sign in again")
}

func TestAccountBadInput(t *testing.T) {
	h := testhub.Start(t, nil)
	hc := hubclient.New(h.Conn)
	ctx, _ := signup(t, hc, "alice")
	bg := context.Background()
	cases := []struct {
		name string
		call func() error
		kind errors.Kind
		hint string
	}{
		{"short username", func() error { _, err := hc.Signup(bg, "al", "al@example.com"); return err }, errors.Invalid, "3 to 32"},
		{"username with spaces", func() error { _, err := hc.Signup(bg, "a b c", "abc@example.com"); return err }, errors.Invalid, "letters, digits"},
		{"bad e-mail", func() error { _, err := hc.Signup(bg, "carol", "carol@"); return err }, errors.Invalid, "not an e-mail"},
		{"e-mail with display name", func() error { _, err := hc.Signup(bg, "carol", "Carol <carol@example.com>"); return err }, errors.Invalid, "bare address"},
		{"taken username", func() error { _, err := hc.Signup(bg, "Alice", "other@example.com"); return err }, errors.Exist, "taken"},
		{"taken e-mail", func() error { _, err := hc.Signup(bg, "alice2", "alice@example.com"); return err }, errors.Exist, "sign in instead"},
		{"username available check on taken name", func() error { return hc.IsUsernameAvailable(bg, "alice") }, errors.Exist, "taken"},
		{"signin unknown", func() error { _, err := hc.Signin(bg, "nobody"); return err }, errors.NotExist, "sign up first"},
		{"org name too short", func() error { _, err := hc.CreateOrg(ctx, "ab"); return err }, errors.Invalid, "3 to 64"},
		{"org name without letters", func() error { _, err := hc.CreateOrg(ctx, "!!!!"); return err }, errors.Invalid, "letters or digits"},
		{"org named like a user", func() error { _, err := hc.CreateOrg(ctx, "ALICE"); return err }, errors.Exist, "taken"},
		{"session calls need a session", func() error { _, err := hc.ListKeys(bg); return err }, errors.Unauthenticated, "x-textile-session"},
		{"unknown org", func() error { _, err := hc.GetOrg(client.WithOrg(ctx, "nope")); return err }, errors.NotExist, "not found"},
		{"GetOrg without org", func() error { _, err := hc.GetOrg(ctx); return err }, errors.Invalid, "x-textile-org"},
		{"invalidate unknown key", func() error { return hc.InvalidateKey(ctx, "bnokey") }, errors.NotExist, "not found"},
		{"invite bad e-mail", func() error { return hc.InviteToOrg(ctx, "x") }, errors.Invalid, "x-textile-org"},
		{"unknown key type", func() error { _, err := hc.CreateKey(ctx, hub.KeyType(7), false); return err }, errors.Invalid, "unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { errorstest.WantKind(t, c.call(), c.kind, c.hint) })
	}
	// None of the refusals changed anything: alice is still the only
	// account, with no keys and no orgs.
	if _, err := hc.Signin(bg, "carol"); !errors.Is(errors.NotExist, err) {
		t.Fatalf("a refused sign-up left an account: %v", err)
	}
	if keys, err := hc.ListKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("keys after refusals: %v, %v", keys, err)
	}
	if orgs, err := hc.ListOrgs(ctx); err != nil || len(orgs) != 0 {
		t.Fatalf("orgs after refusals: %v, %v", orgs, err)
	}
}
