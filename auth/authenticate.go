package auth

import (
	"context"
	"crypto/subtle"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// Requirement says which credentials a call needs.
type Requirement int

// Requirements, from the weakest.
const (
	// Open calls need no credentials and ignore any sent.
	Open Requirement = iota
	// Authenticated calls need a session or an API key; a user group key
	// must come with a token.
	Authenticated
	// APIKeyOnly calls need an API key and no token: GetToken, which is how
	// a user group key's holder gets one.
	APIKeyOnly
	// SessionOnly calls need a developer session.
	SessionOnly
)

// Authenticate turns a request's credentials into the principal it acts as:
// a session first, else an API key (with its signature when secure, and a
// token for user group keys), else Unauthenticated.
func (s *Service) Authenticate(ctx context.Context, c Credentials, req Requirement) (hub.Principal, error) {
	const op errors.Op = "auth.Authenticate"
	switch {
	case req == Open:
		return hub.Principal{}, nil
	case c.Session != "":
		return s.authSession(op, c)
	case req == SessionOnly && c.APIKey != "":
		return hub.Principal{}, errors.E(op, errors.Permission, "this call needs a developer session (hub login); API keys cannot make it")
	case c.APIKey != "":
		return s.authKey(op, c, req, func(k hub.APIKey) error {
			if !k.Secure {
				return nil
			}
			sig, err := ParseSignature(c.Sig, c.SigMsg)
			if err != nil {
				return err
			}
			return sig.Verify(k.Secret, s.now(), s.cfg.SigMaxAhead)
		})
	case c.Token != "":
		return hub.Principal{}, errors.E(op, errors.Unauthenticated, "a token must be sent with the API key of the app it was issued for (x-textile-api-key)")
	case req == SessionOnly:
		return hub.Principal{}, errors.E(op, errors.Unauthenticated, "missing credentials: this call needs a developer session in x-textile-session (hub login)")
	}
	return hub.Principal{}, errors.E(op, errors.Unauthenticated, "missing credentials: send a session (x-textile-session) or an API key (x-textile-api-key, signed when secure)")
}

func (s *Service) authSession(op errors.Op, c Credentials) (hub.Principal, error) {
	var sess hub.Session
	if err := s.db.Get(store.Key(pSession, c.Session), &sess); err != nil {
		if errors.Is(errors.NotExist, err) {
			return hub.Principal{}, errors.E(op, errors.Unauthenticated, "session not found; sign in again (hub login)")
		}
		return hub.Principal{}, errors.E(op, err)
	}
	if subtle.ConstantTimeCompare([]byte(sess.ID), []byte(c.Session)) != 1 {
		return hub.Principal{}, errors.E(op, errors.Unauthenticated, "session not found; sign in again (hub login)")
	}
	if !s.now().Before(sess.ExpiresAt) {
		return hub.Principal{}, errors.E(op, errors.Unauthenticated, "session expired; sign in again (hub login)")
	}
	p := hub.Principal{Kind: hub.DeveloperPrincipal, Account: sess.Account, Member: sess.Account, Session: sess.ID}
	if c.Org == "" {
		return p, nil
	}
	org, err := s.accountByName(op, c.Org)
	if err != nil || org.Type != hub.Organization {
		if err != nil && !errors.Is(errors.NotExist, err) {
			return hub.Principal{}, err
		}
		return hub.Principal{}, errors.Errorf(op, errors.NotExist, "org %q not found (x-textile-org takes the org's slug)", errors.Clip(c.Org))
	}
	if roleOf(org, sess.Account) == "" {
		return hub.Principal{}, errors.Errorf(op, errors.Permission, "you are not a member of org %q", org.Slug)
	}
	p.Kind = hub.OrgPrincipal
	p.Account = org.Key
	return p, nil
}

// AuthenticateSigned authenticates a request signed with an account API
// key's secret by a scheme of its own (S3's Signature Version 4): verify
// gets the key's secret and checks the request's signature with it, secure
// key or not, since the scheme always signs. Such requests carry no user
// token, so user group keys are refused (Permission).
func (s *Service) AuthenticateSigned(ctx context.Context, key string, verify func(secret string) error) (hub.Principal, error) {
	const op errors.Op = "auth.AuthenticateSigned"
	return s.authKey(op, Credentials{APIKey: key}, APIKeyOnly, func(k hub.APIKey) error {
		if k.Type == hub.UserKey {
			return errors.E(op, errors.Permission, "a user group key acts for app users, who sign with their identity; sign with an account key")
		}
		return verify(k.Secret)
	})
}

// authKey authenticates the API key c.APIKey; checkSig checks the
// request's signature against the stored key.
func (s *Service) authKey(op errors.Op, c Credentials, req Requirement, checkSig func(hub.APIKey) error) (hub.Principal, error) {
	var k hub.APIKey
	if err := s.db.Get(store.Key(pKey, c.APIKey), &k); err != nil {
		if errors.Is(errors.NotExist, err) {
			return hub.Principal{}, errors.E(op, errors.Unauthenticated, "API key not found; check x-textile-api-key")
		}
		return hub.Principal{}, errors.E(op, err)
	}
	if !k.Valid {
		return hub.Principal{}, errors.E(op, errors.Unauthenticated, "API key has been invalidated; create a new one (hub keys create)")
	}
	if err := checkSig(k); err != nil {
		return hub.Principal{}, err
	}
	owner, err := s.account(op, k.Owner)
	if err != nil {
		return hub.Principal{}, errors.E(op, errors.Unauthenticated, "the account that owned this API key no longer exists")
	}
	p := hub.Principal{Kind: hub.DeveloperPrincipal, Account: owner.Key, APIKey: k.Key, KeyType: k.Type}
	if owner.Type == hub.Organization {
		p.Kind = hub.OrgPrincipal
		if k.Creator != "" && roleOf(owner, k.Creator) == "" {
			return hub.Principal{}, errors.Errorf(op, errors.Unauthenticated, "this key of org %s was created by someone who is no longer a member; a member creates a new one (hub keys create -o %s)", owner.Slug, owner.Slug)
		}
	}
	if c.Org != "" {
		return hub.Principal{}, errors.E(op, errors.Invalid, "x-textile-org goes with a session; an API key already belongs to one account")
	}
	if c.Token != "" {
		g, err := s.tokens.verify(c.Token, s.now())
		if err != nil {
			return hub.Principal{}, err
		}
		if g.Link {
			return hub.Principal{}, errors.E(op, errors.Unauthenticated, "this is a private bucket link's read-only capability, which only the HTTP gateway accepts; send a user token from GetToken")
		}
		if g.App != owner.Key {
			return hub.Principal{}, errors.E(op, errors.Unauthenticated, "the token was issued for another app; get one with GetToken using this app's key")
		}
		if g.Identity == owner.Key {
			return hub.Principal{}, errors.E(op, errors.Unauthenticated, errOwnIdentity)
		}
		p.Identity = g.Identity
	}
	if k.Type == hub.UserKey {
		p.Kind = hub.UserPrincipal
		if p.Identity == "" && req != APIKeyOnly {
			return hub.Principal{}, errors.E(op, errors.Unauthenticated, "a user group key needs a user token: get one with GetToken and send it as authorization: bearer <token>")
		}
	}
	return p, nil
}
