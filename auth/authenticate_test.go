package auth

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/store"
)

// newService returns a dev-mode service over a fresh store, with a clock
// the test controls.
func newService(t testing.TB, now *time.Time) *Service {
	t.Helper()
	db, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	host, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Dev: true, LinkBase: "http://hub.test", Now: func() time.Time { return *now }}, db, &mailbox{last: map[string]string{}}, host)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mailbox keeps the last e-mail sent to each address, so tests can follow
// the links that only e-mail carries.
type mailbox struct {
	mu sync.Mutex
	// last maps an address to the body of its last message; guarded by mu.
	last map[string]string
}

func (m *mailbox) Send(_ context.Context, to, _, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last[to] = body
	return nil
}

// invitation returns the token of the last invitation e-mailed to email.
func (f *fixture) invitation(t testing.TB, email string) string {
	t.Helper()
	m := f.s.mailer.(*mailbox)
	m.mu.Lock()
	defer m.mu.Unlock()
	_, token, ok := strings.Cut(m.last[email], "/consent/")
	if !ok {
		t.Fatalf("no invitation was e-mailed to %s", email)
	}
	return strings.Fields(token)[0]
}

// fixture is a small world: two developers, an org owned by the first, a
// key of every kind, and a user identity with a token.
type fixture struct {
	s                  *Service
	alice, bob         hub.Account
	aliceSess, bobSess hub.Session
	org                hub.Account
	devAcct, devUser   hub.APIKey // alice's, secure
	orgAcct, orgUser   hub.APIKey // the org's, not secure
	user               crypto.PrivKey
	userKey            hub.PubKey
	devToken, orgToken string // the user's tokens through devUser and orgUser
	now                time.Time
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.s = newService(t, &f.now)
	ctx := context.Background()
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f.alice, f.aliceSess, err = f.s.Signup(ctx, "alice", "alice@example.com")
	must(err)
	f.bob, f.bobSess, err = f.s.Signup(ctx, "bob", "bob@example.com")
	must(err)
	aliceP := f.auth(t, Credentials{Session: f.aliceSess.ID}, Authenticated)
	f.org, err = f.s.CreateOrg(ctx, aliceP, "Acme Corp")
	must(err)
	orgP := f.auth(t, Credentials{Session: f.aliceSess.ID, Org: f.org.Slug}, Authenticated)
	f.devAcct, err = f.s.CreateKey(ctx, aliceP, hub.AccountKey, true)
	must(err)
	f.devUser, err = f.s.CreateKey(ctx, aliceP, hub.UserKey, true)
	must(err)
	f.orgAcct, err = f.s.CreateKey(ctx, orgP, hub.AccountKey, false)
	must(err)
	f.orgUser, err = f.s.CreateKey(ctx, orgP, hub.UserKey, false)
	must(err)
	f.user, err = identity.New()
	must(err)
	f.userKey, err = identity.String(f.user.GetPublic())
	must(err)
	f.devToken = f.token(t, f.devUser)
	f.orgToken = f.token(t, f.orgUser)
	return f
}

// signed returns credentials for a key, with a valid signature when secure.
func (f *fixture) signed(t testing.TB, k hub.APIKey) Credentials {
	c := Credentials{APIKey: k.Key}
	if k.Secure {
		c.SigMsg = f.now.Add(time.Hour).Format(time.RFC3339)
		c.Sig = sign(t, k.Secret, c.SigMsg)
	}
	return c
}

func (f *fixture) token(t testing.TB, k hub.APIKey) string {
	t.Helper()
	p := f.auth(t, f.signed(t, k), APIKeyOnly)
	challenge, err := NewChallenge()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := f.user.Sign(challenge)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.s.IssueToken(context.Background(), p, f.userKey, challenge, sig)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) auth(t testing.TB, c Credentials, req Requirement) hub.Principal {
	t.Helper()
	p, err := f.s.Authenticate(context.Background(), c, req)
	if err != nil {
		t.Fatalf("authenticate %+v: %v", c, err)
	}
	return p
}

// TestAccessMatrix is the access summary: what each kind of credential
// acts as, and so whose resources it reaches.
func TestAccessMatrix(t *testing.T) {
	f := newFixture(t)
	withToken := func(c Credentials, tok string) Credentials { c.Token = tok; return c }
	cases := []struct {
		name  string
		creds Credentials
		req   Requirement
		kind  hub.PrincipalKind
		owner hub.PubKey  // whose resources it reaches
		fail  errors.Kind // Other: admitted
	}{
		{"session reaches its developer", Credentials{Session: f.aliceSess.ID}, Authenticated, hub.DeveloperPrincipal, f.alice.Key, 0},
		{"session of a member reaches the org", Credentials{Session: f.aliceSess.ID, Org: f.org.Slug}, Authenticated, hub.OrgPrincipal, f.org.Key, 0},
		{"session of a non-member cannot act as the org", Credentials{Session: f.bobSess.ID, Org: f.org.Slug}, Authenticated, 0, "", errors.Permission},
		{"session naming an unknown org", Credentials{Session: f.aliceSess.ID, Org: "nope"}, Authenticated, 0, "", errors.NotExist},
		{"developer account key reaches the developer", f.signed(t, f.devAcct), Authenticated, hub.DeveloperPrincipal, f.alice.Key, 0},
		{"org account key reaches the org", f.signed(t, f.orgAcct), Authenticated, hub.OrgPrincipal, f.org.Key, 0},
		{"account key cannot make session calls", f.signed(t, f.devAcct), SessionOnly, 0, "", errors.Permission},
		{"user key with token reaches only the user", withToken(f.signed(t, f.devUser), f.devToken), Authenticated, hub.UserPrincipal, f.userKey, 0},
		{"org user key with token reaches only the user", withToken(f.signed(t, f.orgUser), f.orgToken), Authenticated, hub.UserPrincipal, f.userKey, 0},
		{"user key without token is refused", f.signed(t, f.devUser), Authenticated, 0, "", errors.Unauthenticated},
		{"user key without token may get a token", f.signed(t, f.devUser), APIKeyOnly, hub.UserPrincipal, "", 0},
		{"user key cannot make session calls", withToken(f.signed(t, f.devUser), f.devToken), SessionOnly, 0, "", errors.Permission},
		{"token of the same app with its account key reaches the developer", withToken(f.signed(t, f.devAcct), f.devToken), Authenticated, hub.DeveloperPrincipal, f.alice.Key, 0},
		{"token of one app with another app's user key is refused", withToken(f.signed(t, f.orgUser), f.devToken), Authenticated, 0, "", errors.Unauthenticated},
		{"token of one app with another app's account key is refused", withToken(f.signed(t, f.orgAcct), f.devToken), Authenticated, 0, "", errors.Unauthenticated},
		{"token without a key is refused", Credentials{Token: f.devToken}, Authenticated, 0, "", errors.Unauthenticated},
		{"forged token is refused", withToken(f.signed(t, f.devUser), f.devToken+"x"), Authenticated, 0, "", errors.Unauthenticated},
		{"unsigned secure key is refused", Credentials{APIKey: f.devAcct.Key}, Authenticated, 0, "", errors.Unauthenticated},
		{"unknown key is refused", Credentials{APIKey: "bunknown"}, Authenticated, 0, "", errors.Unauthenticated},
		{"API key with x-textile-org is refused", Credentials{APIKey: f.orgAcct.Key, Org: f.org.Slug}, Authenticated, 0, "", errors.Invalid},
		{"no credentials", Credentials{}, Authenticated, 0, "", errors.Unauthenticated},
		{"unknown session", Credentials{Session: "bnope"}, Authenticated, 0, "", errors.Unauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := f.s.Authenticate(context.Background(), c.creds, c.req)
			if c.fail != 0 {
				if !errors.Is(c.fail, err) {
					t.Fatalf("got principal %+v, err %v; want kind %v", p, err, c.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != c.kind || p.Owner() != c.owner {
				t.Fatalf("acts as %v owning %s; want %v owning %s", p.Kind, p.Owner(), c.kind, c.owner)
			}
		})
	}
}

// TestReplacedUserKeyKeepsUsers checks that users belong to the account, not
// the key: after the key is invalidated and replaced, the same token through
// the new key acts as the same user under the same account.
func TestReplacedUserKeyKeepsUsers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	aliceP := f.auth(t, Credentials{Session: f.aliceSess.ID}, SessionOnly)
	if err := f.s.InvalidateKey(ctx, aliceP, f.devUser.Key); err != nil {
		t.Fatal(err)
	}
	old := f.signed(t, f.devUser)
	old.Token = f.devToken
	if _, err := f.s.Authenticate(ctx, old, Authenticated); !errors.Is(errors.Unauthenticated, err) {
		t.Fatalf("invalidated key admitted: %v", err)
	}
	replacement, err := f.s.CreateKey(ctx, aliceP, hub.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	c := f.signed(t, replacement)
	c.Token = f.devToken
	p := f.auth(t, c, Authenticated)
	if p.Owner() != f.userKey || p.Account != f.alice.Key {
		t.Fatalf("replacement key acts as %s under %s; want %s under %s", p.Owner(), p.Account, f.userKey, f.alice.Key)
	}
	users, err := f.s.Users(ctx, f.alice.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0] != f.userKey {
		t.Fatalf("alice's users = %v; want just %s", users, f.userKey)
	}
}

func TestTokenExpiry(t *testing.T) {
	f := newFixture(t)
	f.s.tokens.ttl = time.Hour
	tok := f.token(t, f.devUser)
	c := f.signed(t, f.devUser)
	c.Token = tok
	f.auth(t, c, Authenticated)
	f.now = f.now.Add(2 * time.Hour)
	c = f.signed(t, f.devUser)
	c.Token = tok
	if _, err := f.s.Authenticate(context.Background(), c, Authenticated); !errors.Is(errors.Unauthenticated, err) {
		t.Fatalf("expired token admitted: %v", err)
	}
}

// TestTokenBoundToApp: a token works only with a key of the account it
// was issued through, and says so; a private bucket's link and a token
// that names no app are refused as tokens.
func TestTokenBoundToApp(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	try := func(k hub.APIKey, tok string) error {
		c := f.signed(t, k)
		c.Token = tok
		_, err := f.s.Authenticate(ctx, c, Authenticated)
		return err
	}
	if err := try(f.orgUser, f.devToken); !errors.Is(errors.Unauthenticated, err) || !strings.Contains(errors.Message(err), "issued for another app") {
		t.Fatalf("a token of alice's app with the org's key: %v", err)
	}
	link, err := f.s.IssueLink(ctx, f.auth(t, Credentials{Session: f.aliceSess.ID}, Authenticated), "bthread", "bkey", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := try(f.devUser, link); !errors.Is(errors.Unauthenticated, err) || !strings.Contains(errors.Message(err), "only the HTTP gateway accepts") {
		t.Fatalf("a link as a token: %v", err)
	}
	old, err := f.s.tokens.sign(claims{RegisteredClaims: jwt.RegisteredClaims{Subject: string(f.userKey)}}, f.now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := try(f.devUser, old); !errors.Is(errors.Unauthenticated, err) || !strings.Contains(errors.Message(err), "get a new one with GetToken") {
		t.Fatalf("a token that names no app: %v", err)
	}
	if _, _, err := f.s.GatewayPrincipal(ctx, old, f.alice.Key); !errors.Is(errors.Unauthenticated, err) {
		t.Fatalf("a token that names no app at the gateway: %v", err)
	}
}

// TestLinkGrant: a link names its scope and identity, and expires after
// LinkTTL even when cached.
func TestLinkGrant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.signed(t, f.devUser)
	c.Token = f.devToken
	p := f.auth(t, c, Authenticated)
	link, err := f.s.IssueLink(ctx, p, "bthread", "bkey", "a/b")
	if err != nil {
		t.Fatal(err)
	}
	p, g, err := f.s.GatewayPrincipal(ctx, link, f.alice.Key)
	if err != nil || p.Kind != hub.UserPrincipal || p.Owner() != f.userKey || p.Account != f.alice.Key {
		t.Fatalf("a user's link acts as %+v (%v); want the user within alice's app", p, err)
	}
	want := Grant{Identity: f.userKey, App: f.alice.Key, Link: true, Thread: "bthread", Bucket: "bkey", Path: "a/b"}
	if exp := g.Expires; !exp.Equal(f.now.Add(DefaultLinkTTL)) {
		t.Fatalf("link expires %v (%v); want after %v", exp, err, DefaultLinkTTL)
	}
	if g.Expires = (time.Time{}); g != want {
		t.Fatalf("link grants %+v (%v); want %+v", g, err, want)
	}
	f.now = f.now.Add(DefaultLinkTTL)
	if _, _, err := f.s.GatewayPrincipal(ctx, link, f.alice.Key); !errors.Is(errors.Unauthenticated, err) || !strings.Contains(errors.Message(err), "link expired") {
		t.Fatalf("an expired link: %v", err)
	}
}

// TestNewIdentityCap: an app admits MaxNewIDs identities it has not seen
// before per NewIDWindow, refilling steadily; identities it has seen still
// get tokens, and other apps are not affected.
func TestNewIdentityCap(t *testing.T) {
	f := newFixture(t) // alice's app and the org's have each seen f.user
	// Lowered from the default, the budget is the new limit, full.
	f.s.cfg.MaxNewIDs, f.s.cfg.NewIDWindow = 3, time.Hour
	ctx := context.Background()
	issue := func(k hub.APIKey, priv crypto.PrivKey) error {
		pub, err := identity.String(priv.GetPublic())
		if err != nil {
			t.Fatal(err)
		}
		challenge, err := NewChallenge()
		if err != nil {
			t.Fatal(err)
		}
		sig, err := priv.Sign(challenge)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.s.IssueToken(ctx, f.auth(t, f.signed(t, k), APIKeyOnly), pub, challenge, sig)
		return err
	}
	fresh := func() crypto.PrivKey {
		priv, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		return priv
	}
	for i := range 3 {
		if err := issue(f.devUser, fresh()); err != nil {
			t.Fatalf("new identity %d of 3: %v", i+1, err)
		}
	}
	err := issue(f.devUser, fresh())
	if !errors.Is(errors.Exhausted, err) || !strings.Contains(errors.Message(err), "seen before still get tokens") {
		t.Fatalf("a fourth new identity: %v; want Exhausted", err)
	}
	if err := issue(f.devAcct, fresh()); !errors.Is(errors.Exhausted, err) {
		t.Fatalf("a fourth new identity through the app's account key: %v; want Exhausted", err)
	}
	if err := issue(f.devUser, f.user); err != nil {
		t.Fatalf("an identity the app has seen: %v", err)
	}
	if err := issue(f.orgUser, fresh()); err != nil {
		t.Fatalf("another app's new identity: %v", err)
	}
	users, err := f.s.Users(ctx, f.alice.Key)
	if err != nil || len(users) != 4 {
		t.Fatalf("alice's app has %d users (%v); want f.user and the 3 admitted", len(users), err)
	}
	f.now = f.now.Add(20 * time.Minute) // a third of the window: one more
	if err := issue(f.devUser, fresh()); err != nil {
		t.Fatalf("a new identity after the budget refilled: %v", err)
	}
	if err := issue(f.devUser, fresh()); !errors.Is(errors.Exhausted, err) {
		t.Fatalf("a second new identity after one refilled: %v; want Exhausted", err)
	}
}
