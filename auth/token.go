package auth

import (
	"crypto/ed25519"
	stderrors "errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
)

// tokenIssuer signs and checks user identity tokens: JWTs (EdDSA) signed by
// the host's Ed25519 key with sub = the user's public key string and iss =
// the host's. The clients treat them as opaque.
type tokenIssuer struct {
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	issuer string
	ttl    time.Duration // zero: no expiry, as the original issued them
	// verified caches tokens already verified, so a client that sends its
	// token with every call pays for the Ed25519 check once. Tokens are
	// immutable; the cached expiry is still checked on every use.
	verified *lru.Cache[string, verifiedToken]
}

// verifiedToken is a token that passed verification.
type verifiedToken struct {
	user    hub.PubKey
	expires time.Time // zero: never
}

// verifiedTokenCacheSize bounds the verified-token cache.
const verifiedTokenCacheSize = 16384

func newTokenIssuer(host crypto.PrivKey, ttl time.Duration) (*tokenIssuer, error) {
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
	cache, err := lru.New[string, verifiedToken](verifiedTokenCacheSize)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return &tokenIssuer{priv: *priv, pub: priv.Public().(ed25519.PublicKey), issuer: string(iss), ttl: ttl, verified: cache}, nil
}

// issue returns a token for the user identity.
func (t *tokenIssuer) issue(user hub.PubKey, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Subject:  string(user),
		Issuer:   t.issuer,
		IssuedAt: jwt.NewNumericDate(now),
	}
	if t.ttl > 0 {
		claims.ExpiresAt = jwt.NewNumericDate(now.Add(t.ttl))
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(t.priv)
	if err != nil {
		return "", errors.E(errors.Op("auth.issueToken"), errors.Internal, err)
	}
	return s, nil
}

// verify checks a token's signature, issuer and expiry and returns the user
// identity it names.
func (t *tokenIssuer) verify(token string, now time.Time) (hub.PubKey, error) {
	const op errors.Op = "auth.verifyToken"
	if v, ok := t.verified.Get(token); ok {
		if !v.expires.IsZero() && !now.Before(v.expires) {
			return "", errors.E(op, errors.Unauthenticated, "token expired; get a new one with GetToken")
		}
		return v.user, nil
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	switch {
	case err == nil:
	case stderrors.Is(err, jwt.ErrTokenExpired):
		return "", errors.E(op, errors.Unauthenticated, "token expired; get a new one with GetToken")
	default:
		return "", errors.E(op, errors.Unauthenticated, "token is not valid for this hub; get a new one with GetToken")
	}
	user := hub.PubKey(claims.Subject)
	if _, err := identity.Parse(user); err != nil {
		return "", errors.E(op, errors.Unauthenticated, "token names no valid identity; get a new one with GetToken")
	}
	v := verifiedToken{user: user}
	if claims.ExpiresAt != nil {
		v.expires = claims.ExpiresAt.Time
	}
	t.verified.Add(token, v)
	return user, nil
}
