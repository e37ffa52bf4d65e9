package auth

import (
	"context"
	"crypto/rand"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/store"
)

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
