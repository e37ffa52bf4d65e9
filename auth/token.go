package auth

import (
	"context"
	"crypto/ed25519"
	stderrors "errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/store"
)

// Tokens and links.
//
// The hub signs two kinds of JWT (EdDSA, by the host's Ed25519 key, iss =
// the host's identity, sub = the identity they act for), told apart by
// their "use" claim so that neither is accepted as the other:
//
//   - A user token (use "token") is what GetToken returns. It names the
//     app it was issued for: the account (developer or org) that owns the
//     API key it was asked with, in the "app" claim. It is accepted only
//     with an API key of that same account, so a user's token from one app
//     cannot reach that user's data in another. It is bound to the account
//     rather than to the key: a replaced key keeps its app's users signed
//     in, as their data belongs to the account; invalidating a key stops
//     every request made with that key at once, and a token alone is
//     useless without a valid key of its app.
//   - A link (use "link") is a read-only capability that a private
//     bucket's links carry: it names the DB, the bucket and a path prefix,
//     and admits GETs under that prefix at the HTTP gateway only. It acts
//     for whoever asked for it within its account (a user, the developer,
//     or the org while the member behind it still is one), never grants
//     more than Reader, and only while that one still has Reader there:
//     the gateway checks roles on every request (GatewayPrincipal).
//
// Tokens made before tokens named their app (no "use" claim) are refused
// with a message to get a new one: which app they were meant for cannot be
// known.
const (
	useToken = "token"
	useLink  = "link"
)

// claims are the claims of both kinds of JWT.
type claims struct {
	jwt.RegisteredClaims
	Use string     `json:"use,omitempty"`
	App hub.PubKey `json:"app,omitempty"`
	// Member is, for a link issued to an org, the member behind it.
	Member hub.PubKey `json:"mbr,omitempty"`
	// A link's scope: the DB, the bucket key and the cleaned path prefix
	// ("" for the whole bucket).
	Thread string `json:"thr,omitempty"`
	Bucket string `json:"bkt,omitempty"`
	Path   string `json:"pth,omitempty"`
}

// Grant is what a verified token or link allows.
type Grant struct {
	// Identity is the identity it acts for, whose roles apply.
	Identity hub.PubKey
	// App is the account whose key the token was issued through, or
	// within which the link was.
	App hub.PubKey
	// Member is, for a link issued to an org, the member behind it.
	Member hub.PubKey
	// Link is set for a link: it reads only under Thread, Bucket, Path.
	Link   bool
	Thread string
	Bucket string
	Path   string
	// Expires is when it stops working; zero for never.
	Expires time.Time
}

// tokenIssuer signs and checks user tokens and links. The clients treat
// them as opaque.
type tokenIssuer struct {
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	issuer  string
	ttl     time.Duration // of tokens; zero: no expiry, as the original issued them
	linkTTL time.Duration
	// verified caches JWTs already verified, so a client that sends its
	// token with every call pays for the Ed25519 check once. JWTs are
	// immutable; the cached expiry is still checked on every use.
	verified *lru.Cache[string, Grant]
}

// verifiedTokenCacheSize bounds the verified-token cache.
const verifiedTokenCacheSize = 16384

func newTokenIssuer(host crypto.PrivKey, ttl, linkTTL time.Duration) (*tokenIssuer, error) {
	const op errors.Op = "auth.newTokenIssuer"
	std, err := crypto.PrivKeyToStdKey(host)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	priv, ok := std.(*ed25519.PrivateKey)
	if !ok {
		return nil, errors.E(op, errors.Internal, "host key is not Ed25519")
	}
	iss, err := identity.String(host.GetPublic())
	if err != nil {
		return nil, err
	}
	cache, err := lru.New[string, Grant](verifiedTokenCacheSize)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return &tokenIssuer{priv: *priv, pub: priv.Public().(ed25519.PublicKey), issuer: string(iss), ttl: ttl, linkTTL: linkTTL, verified: cache}, nil
}

// sign returns the JWT of c, issued now and lasting ttl (zero: for ever).
func (t *tokenIssuer) sign(c claims, now time.Time, ttl time.Duration) (string, error) {
	const op errors.Op = "auth.sign"
	c.Issuer = t.issuer
	c.IssuedAt = jwt.NewNumericDate(now)
	if ttl > 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(t.priv)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return s, nil
}

// issue returns a token for the user identity, bound to app.
func (t *tokenIssuer) issue(user, app hub.PubKey, now time.Time) (string, error) {
	return t.sign(claims{RegisteredClaims: jwt.RegisteredClaims{Subject: string(user)}, Use: useToken, App: app}, now, t.ttl)
}

// verify checks a JWT's signature, issuer and expiry and returns what it
// grants. It does not check what it is used for: the callers do.
func (t *tokenIssuer) verify(token string, now time.Time) (Grant, error) {
	const op errors.Op = "auth.verifyToken"
	if g, ok := t.verified.Get(token); ok {
		if !g.Expires.IsZero() && !now.Before(g.Expires) {
			return Grant{}, expired(op, g)
		}
		return g, nil
	}
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case err == nil:
	case stderrors.Is(err, jwt.ErrTokenExpired):
		return Grant{}, expired(op, Grant{Link: c.Use == useLink})
	default:
		return Grant{}, errors.E(op, errors.Unauthenticated, "token is not valid for this hub; get a new one with GetToken")
	}
	g := Grant{Identity: hub.PubKey(c.Subject), App: c.App, Member: c.Member, Link: c.Use == useLink, Thread: c.Thread, Bucket: c.Bucket, Path: c.Path}
	if _, err := identity.Parse(g.Identity); err != nil {
		return Grant{}, errors.E(op, errors.Unauthenticated, "token names no valid identity; get a new one with GetToken")
	}
	switch {
	case c.Use != useToken && c.Use != useLink, c.App == "":
		return Grant{}, errors.E(op, errors.Unauthenticated, "token was issued before tokens named their app and is no longer accepted; get a new one with GetToken")
	case g.Link && g.Bucket == "":
		return Grant{}, errors.E(op, errors.Unauthenticated, "link names no bucket; get a new one from the bucket's links")
	}
	if c.ExpiresAt != nil {
		g.Expires = c.ExpiresAt.Time
	}
	t.verified.Add(token, g)
	return g, nil
}

// expired is the error for an expired token or link.
func expired(op errors.Op, g Grant) error {
	if g.Link {
		return errors.E(op, errors.Unauthenticated, "link expired; get a new one from the bucket's links")
	}
	return errors.E(op, errors.Unauthenticated, "token expired; get a new one with GetToken")
}

// GatewayPrincipal verifies a link or user token presented at the HTTP
// gateway and returns what it grants and the principal it acts as toward
// the resources of account (the account whose DB holds the bucket):
//
//   - a user token issued for account: a user of account's apps;
//   - a link issued within account: whoever asked for it, a user, the
//     developer, or the org, the last only while the member it was issued
//     to is still one (Permission otherwise, as OrgAccess);
//   - anything else (another app's, a token naming the account itself):
//     its bare identity, which reaches nothing of account's.
//
// Unauthenticated when it is not valid.
func (s *Service) GatewayPrincipal(ctx context.Context, token string, account hub.PubKey) (hub.Principal, Grant, error) {
	const op errors.Op = "auth.GatewayPrincipal"
	g, err := s.tokens.verify(token, s.now())
	if err != nil {
		return hub.Principal{}, Grant{}, err
	}
	bare := hub.Principal{Kind: hub.UserPrincipal, Identity: g.Identity}
	if g.App != account || account == "" {
		return bare, g, nil
	}
	acct, err := s.account(op, account)
	switch {
	case errors.Is(errors.NotExist, err):
		return bare, g, nil
	case err != nil:
		return hub.Principal{}, Grant{}, err
	case g.Identity != account:
		return hub.Principal{Kind: hub.UserPrincipal, Account: account, Identity: g.Identity}, g, nil
	case !g.Link:
		return bare, g, nil // a token naming the account itself is never honoured (errOwnIdentity)
	case acct.Type == hub.Organization:
		p := hub.Principal{Kind: hub.OrgPrincipal, Account: account, Member: g.Member}
		if err := s.OrgAccess(ctx, p); err != nil {
			return hub.Principal{}, Grant{}, err
		}
		return p, g, nil
	}
	return hub.Principal{Kind: hub.DeveloperPrincipal, Account: account, Member: g.Member}, g, nil
}

// IssueLink returns a link for the principal p to read under path
// (cleaned, "" for the whole bucket) of bucket key in DB thread, lasting
// Config.LinkTTL. It acts for p's owner within p's account; one issued to
// an org names the member behind it (the session's, or the creator of the
// org's account key) so that it stops working when that member leaves.
// The caller has checked that p may see the bucket; the gateway checks p's
// role on each request.
func (s *Service) IssueLink(ctx context.Context, p hub.Principal, thread, key, path string) (string, error) {
	const op errors.Op = "auth.IssueLink"
	if p.Owner() == "" || p.Account == "" {
		return "", errors.E(op, errors.Unauthenticated, "links of a private bucket need an identity: send a token or a session")
	}
	member := p.Member
	if p.Kind == hub.OrgPrincipal && member == "" {
		var k hub.APIKey
		if err := s.db.Get(store.Key(pKey, p.APIKey), &k); err != nil {
			return "", errors.E(op, err)
		}
		member = k.Creator
	}
	c := claims{RegisteredClaims: jwt.RegisteredClaims{Subject: string(p.Owner())}, Use: useLink, App: p.Account, Member: member,
		Thread: thread, Bucket: key, Path: path}
	return s.tokens.sign(c, s.now(), s.tokens.linkTTL)
}
