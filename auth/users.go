package auth

import (
	"context"
	"crypto/rand"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/store"
)

// errOwnIdentity refuses a token for the identity of the account whose key
// is used. A user token is a user's; a token naming the account itself
// would act as the account (its DBs and buckets) without a session, and
// for an org would outlast its holder's membership.
const errOwnIdentity = "a user token cannot name the identity of the account that owns the API key: an app's users sign in with identities of their own, and an account (an org above all) acts through its members' sessions and its account keys"

// ChallengeSize is the number of random bytes a GetToken challenge holds.
const ChallengeSize = 32

// NewChallenge returns fresh random bytes for a user to sign in GetToken.
func NewChallenge() ([]byte, error) {
	c := make([]byte, ChallengeSize)
	if _, err := rand.Read(c); err != nil {
		return nil, errors.E(errors.Op("auth.NewChallenge"), errors.Internal, err)
	}
	return c, nil
}

// IssueToken checks that sig is user's Ed25519 signature of challenge and
// returns a token for user. The user is recorded against the account that
// owns the API key (not the key itself) the first time it is seen, so a
// replacement key of the same account keeps the user's access.
func (s *Service) IssueToken(ctx context.Context, p hub.Principal, user hub.PubKey, challenge, sig []byte) (string, error) {
	const op errors.Op = "auth.IssueToken"
	if p.APIKey == "" {
		return "", errors.E(op, errors.Unauthenticated, "GetToken needs an API key (x-textile-api-key)")
	}
	if user == p.Account {
		return "", errors.E(op, errors.Permission, errOwnIdentity)
	}
	pub, err := identity.Parse(user)
	if err != nil {
		return "", errors.E(op, err)
	}
	ok, err := pub.Verify(challenge, sig)
	if err != nil || !ok {
		return "", errors.E(op, errors.Unauthenticated, "signature does not match the challenge: sign the challenge bytes with the identity's private key")
	}
	key := store.Key(pUser, string(p.Account), string(user))
	known, err := s.db.Has(key)
	if err != nil {
		return "", errors.E(op, err)
	}
	if !known {
		b := s.db.NewBatch()
		b.Put(key, userRecord{Identity: user, Account: p.Account, CreatedAt: s.now()})
		if err := commit(op, b); err != nil {
			return "", err
		}
	}
	return s.tokens.issue(user, s.now())
}

// Users lists the end-user identities recorded against account.
func (s *Service) Users(ctx context.Context, account hub.PubKey) ([]hub.PubKey, error) {
	var users []hub.PubKey
	err := store.ScanJSON(s.db, store.Key(pUser, string(account), ""), func(_ []byte, u *userRecord) error {
		users = append(users, u.Identity)
		return nil
	})
	if err != nil {
		return nil, errors.E(errors.Op("auth.Users"), err)
	}
	return users, nil
}

// TokenPrincipal returns the principal a user token acts as toward the
// resources of account, for requests that carry a token without an API key
// (the gateway's ?token=): a user of account's apps when the token's
// identity has signed in through one of account's keys, the account still
// exists, and the identity is not the account's own. Any other valid token
// acts as its bare identity, which reaches nothing of account's.
// Unauthenticated when the token is not valid.
func (s *Service) TokenPrincipal(ctx context.Context, token string, account hub.PubKey) (hub.Principal, error) {
	const op errors.Op = "auth.TokenPrincipal"
	user, err := s.tokens.verify(token, s.now())
	if err != nil {
		return hub.Principal{}, err
	}
	p := hub.Principal{Kind: hub.UserPrincipal, Identity: user}
	if account == "" || user == account {
		return p, nil
	}
	for _, k := range [][]byte{store.Key(pAccount, string(account)), store.Key(pUser, string(account), string(user))} {
		ok, err := s.db.Has(k)
		if err != nil {
			return hub.Principal{}, errors.E(op, err)
		}
		if !ok {
			return p, nil
		}
	}
	p.Account = account
	return p, nil
}
