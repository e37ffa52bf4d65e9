package test

import (
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// hubdArgs are the flags of a test hubd process on repo.
func hubdArgs(repo string) []string {
	return []string{"--repo", repo, "--dev", "--api-addr", "127.0.0.1:0", "--web-addr", "127.0.0.1:0",
		"--gateway-addr", "127.0.0.1:0", "--s3-addr", "127.0.0.1:0", "--p2p-addr", "/ip4/127.0.0.1/tcp/0"}
}

// TestRestartKeepsState stops hubd cleanly and then kills it (SIGKILL) right
// after acknowledged writes; each time the restarted hubd still has the
// accounts, sessions, orgs, keys and the host identity that signs tokens.
func TestRestartKeepsState(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	repo := t.TempDir()
	p := testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
	hc := hubclient.New(testhub.Dial(t, p.Addrs.API))
	ctx, sess := signup(t, hc, "alice")
	org, err := hc.CreateOrg(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	acct, err := hc.CreateKey(ctx, hub.AccountKey, true)
	if err != nil {
		t.Fatal(err)
	}
	userKey, err := hc.CreateKey(client.WithOrg(ctx, org.Slug), hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	user, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	token, err := threadsclient.New(testhub.Dial(t, p.Addrs.API)).GetToken(testhub.WithKey(t, userKey), user)
	if err != nil {
		t.Fatal(err)
	}
	userCtx := client.WithToken(testhub.WithKey(t, userKey), token)
	dbID, _ := threads.NewID(threads.Raw)
	if _, err := threadspb.NewAPIClient(testhub.Dial(t, p.Addrs.API)).NewDB(userCtx, &threadspb.NewDBRequest{DbID: dbID.Bytes(), Name: "notes"}); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, api string, wantKeys int) {
		t.Helper()
		hc := hubclient.New(testhub.Dial(t, api))
		info, err := hc.SessionInfo(ctx)
		if err != nil {
			t.Fatalf("session lost: %v", err)
		}
		if info.Key != sess.Key {
			t.Fatalf("session now belongs to %s, not %s", info.Key, sess.Key)
		}
		keys, err := hc.ListKeys(ctx)
		if err != nil || len(keys) != wantKeys {
			t.Fatalf("keys after restart: %d %v; want %d", len(keys), err, wantKeys)
		}
		if _, err := hc.GetOrg(client.WithOrg(ctx, org.Slug)); err != nil {
			t.Fatalf("org lost: %v", err)
		}
		// The signed account key and the user token issued before the
		// restart are still admitted, and the user's DB is still there.
		tc := threadspb.NewAPIClient(testhub.Dial(t, api))
		if _, err := tc.ListDBs(testhub.WithKey(t, acct), &threadspb.ListDBsRequest{}); err != nil {
			t.Fatalf("account key after restart: %v", err)
		}
		dbs, err := tc.ListDBs(userCtx, &threadspb.ListDBsRequest{})
		if err != nil {
			t.Fatalf("user token after restart: %v", err)
		}
		if len(dbs.Dbs) != 1 || dbs.Dbs[0].Info.Name != "notes" {
			t.Fatalf("user's DBs after restart: %v", dbs.Dbs)
		}
	}

	if err := p.Stop(); err != nil {
		t.Fatalf("hubd did not shut down cleanly on SIGINT: %v", err)
	}
	p = testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
	check(t, p.Addrs.API, 1)

	// Acknowledged writes survive a kill with no shutdown at all.
	if _, err := hubclient.New(testhub.Dial(t, p.Addrs.API)).CreateKey(ctx, hub.UserKey, true); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	p = testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
	check(t, p.Addrs.API, 2)
}
