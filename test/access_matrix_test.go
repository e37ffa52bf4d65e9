package test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// world is a hub with two developers, an org owned by the first (the second
// is not a member), a key of every kind and a user with tokens.
type world struct {
	h                  *testhub.Hub
	hc                 *hubclient.Client
	tc                 *threadsclient.Client
	alice, bob         context.Context // sessions
	aliceKey, bobKey   hub.PubKey
	org                hub.Account
	asOrg              context.Context // alice's session acting as the org
	devAcct, devUser   hub.APIKey      // alice's keys, secure
	orgAcct, orgUser   hub.APIKey      // the org's keys, not secure
	user               crypto.PrivKey
	devToken, orgToken string
}

func newWorld(t testing.TB, h *testhub.Hub) *world {
	t.Helper()
	w := &world{h: h, hc: hubclient.New(h.Conn), tc: threadsclient.New(h.Conn)}
	var s hubclient.Session
	w.alice, s = signup(t, w.hc, "alice")
	w.aliceKey = s.Key
	w.bob, s = signup(t, w.hc, "bob")
	w.bobKey = s.Key
	var err error
	if w.org, err = w.hc.CreateOrg(w.alice, "Acme"); err != nil {
		t.Fatal(err)
	}
	w.asOrg = client.WithOrg(w.alice, w.org.Slug)
	w.devAcct = w.key(t, w.alice, hub.AccountKey, true)
	w.devUser = w.key(t, w.alice, hub.UserKey, true)
	w.orgAcct = w.key(t, w.asOrg, hub.AccountKey, false)
	w.orgUser = w.key(t, w.asOrg, hub.UserKey, false)
	if w.user, err = identity.New(); err != nil {
		t.Fatal(err)
	}
	w.devToken = w.token(t, w.devUser)
	w.orgToken = w.token(t, w.orgUser)
	// Each principal makes a DB named after itself, so listing DBs shows
	// whose resources a credential reaches.
	for name, ctx := range map[string]context.Context{
		"alice": w.alice, "bob": w.bob, "org": w.asOrg,
		"user-via-alice": client.WithToken(testhub.WithKey(t, w.devUser), w.devToken),
		"user-via-org":   client.WithToken(testhub.WithKey(t, w.orgUser), w.orgToken),
	} {
		id, err := threads.NewID(threads.Raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := threadspb.NewAPIClient(h.Conn).NewDB(ctx, &threadspb.NewDBRequest{DbID: id.Bytes(), Name: name}); err != nil {
			t.Fatalf("NewDB %s: %v", name, err)
		}
	}
	return w
}

func (w *world) key(t testing.TB, ctx context.Context, typ hub.KeyType, secure bool) hub.APIKey {
	t.Helper()
	k, err := w.hc.CreateKey(ctx, typ, secure)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (w *world) token(t testing.TB, k hub.APIKey) string {
	t.Helper()
	tok, err := w.tc.GetToken(testhub.WithKey(t, k), w.user)
	if err != nil {
		t.Fatalf("GetToken with %s key: %v", k.Type, err)
	}
	return tok
}

// probe is one call the matrix makes with each credential; it returns the
// gRPC code and, when admitted, whose resource it reached.
type probe func(ctx context.Context, w *world) (codes.Code, string)

var probes = map[string]probe{
	// ListKeys reaches an account's API keys: it answers with the owner's
	// keys, which the matrix names by the account they belong to.
	"ListKeys": func(ctx context.Context, w *world) (codes.Code, string) {
		keys, err := w.hc.ListKeys(ctx)
		if err != nil {
			return rpcerr.Code(err), ""
		}
		for _, k := range keys {
			switch k.Key {
			case w.devAcct.Key:
				return codes.OK, "alice"
			case w.orgAcct.Key:
				return codes.OK, "org"
			}
		}
		return codes.OK, "none"
	},
	// GetOrg reaches the org's record.
	"GetOrg": func(ctx context.Context, w *world) (codes.Code, string) {
		o, err := w.hc.GetOrg(ctx)
		if err != nil {
			return rpcerr.Code(err), ""
		}
		return codes.OK, o.Slug
	},
	// ListDBs reaches the caller's own ThreadDB DBs, named after their
	// makers.
	"DBs": func(ctx context.Context, w *world) (codes.Code, string) {
		res, err := threadspb.NewAPIClient(w.h.Conn).ListDBs(ctx, &threadspb.ListDBsRequest{})
		if err != nil {
			return status.Code(err), ""
		}
		var names []string
		for _, d := range res.Dbs {
			names = append(names, d.Info.Name)
		}
		sort.Strings(names)
		return codes.OK, strings.Join(names, ",")
	},
}

// TestAccessMatrixOverTheWire drives each kind of credential through real
// calls: who may call what, and whose resources each call reaches.
func TestAccessMatrixOverTheWire(t *testing.T) {
	h := testhub.Start(t, nil)
	w := newWorld(t, h)
	withTok := func(ctx context.Context, tok string) context.Context { return client.WithToken(ctx, tok) }
	type want struct {
		code  codes.Code
		reach string
	}
	cases := []struct {
		name string
		ctx  context.Context
		want map[string]want
	}{
		{"developer session", w.alice, map[string]want{
			"ListKeys": {codes.OK, "alice"}, "GetOrg": {codes.InvalidArgument, ""}, "DBs": {codes.OK, "alice"}}},
		{"member session acting as the org", w.asOrg, map[string]want{
			"ListKeys": {codes.OK, "org"}, "GetOrg": {codes.OK, w.org.Slug}, "DBs": {codes.OK, "org"}}},
		{"non-member session naming the org", client.WithOrg(w.bob, w.org.Slug), map[string]want{
			"ListKeys": {codes.PermissionDenied, ""}, "GetOrg": {codes.PermissionDenied, ""}, "DBs": {codes.PermissionDenied, ""}}},
		{"other developer's session", w.bob, map[string]want{
			"ListKeys": {codes.OK, "none"}, "GetOrg": {codes.InvalidArgument, ""}, "DBs": {codes.OK, "bob"}}},
		{"developer account key", testhub.WithKey(t, w.devAcct), map[string]want{
			"ListKeys": {codes.PermissionDenied, ""}, "GetOrg": {codes.PermissionDenied, ""}, "DBs": {codes.OK, "alice"}}},
		{"org account key", testhub.WithKey(t, w.orgAcct), map[string]want{
			"ListKeys": {codes.PermissionDenied, ""}, "GetOrg": {codes.PermissionDenied, ""}, "DBs": {codes.OK, "org"}}},
		{"user key with token", withTok(testhub.WithKey(t, w.devUser), w.devToken), map[string]want{
			"ListKeys": {codes.PermissionDenied, ""}, "GetOrg": {codes.PermissionDenied, ""}, "DBs": {codes.OK, "user-via-alice"}}},
		{"org user key with token", withTok(testhub.WithKey(t, w.orgUser), w.orgToken), map[string]want{
			"ListKeys": {codes.PermissionDenied, ""}, "GetOrg": {codes.PermissionDenied, ""}, "DBs": {codes.OK, "user-via-org"}}},
		{"org user key with the token of alice's app", withTok(testhub.WithKey(t, w.orgUser), w.devToken), map[string]want{
			"ListKeys": {codes.PermissionDenied, ""}, "GetOrg": {codes.PermissionDenied, ""}, "DBs": {codes.Unauthenticated, ""}}},
		{"user key without token", testhub.WithKey(t, w.devUser), map[string]want{
			"ListKeys": {codes.PermissionDenied, ""}, "GetOrg": {codes.PermissionDenied, ""}, "DBs": {codes.Unauthenticated, ""}}},
		{"secure key with an expired signature", expired(t, w.devAcct), map[string]want{
			"ListKeys": {codes.PermissionDenied, ""}, "DBs": {codes.Unauthenticated, ""}}},
		{"no credentials", context.Background(), map[string]want{
			"ListKeys": {codes.Unauthenticated, ""}, "GetOrg": {codes.Unauthenticated, ""}, "DBs": {codes.Unauthenticated, ""}}},
	}
	for _, c := range cases {
		for name, wnt := range c.want {
			t.Run(c.name+"/"+name, func(t *testing.T) {
				code, reach := probes[name](c.ctx, w)
				if code != wnt.code || reach != wnt.reach {
					t.Fatalf("got %v reaching %q; want %v reaching %q", code, reach, wnt.code, wnt.reach)
				}
			})
		}
	}
}

// expired returns a context with k and a signature that expired a minute ago.
func expired(t *testing.T, k hub.APIKey) context.Context {
	t.Helper()
	ctx, err := client.WithAPISig(context.Background(), k.Key, k.Secret, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}
