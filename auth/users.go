package auth

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/store"
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
	const op errors.Op = "auth.NewChallenge"
	c := make([]byte, ChallengeSize)
	if _, err := rand.Read(c); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return c, nil
}

// IssueToken checks that sig is user's Ed25519 signature of challenge and
// returns a token for user, bound to the account that owns the API key
// (the app; see token.go). The user is recorded against that account the
// first time it is seen, so a replacement key of the same account keeps the
// user's access. An identity the account has not seen before spends one of
// the account's new identities (Config.MaxNewIDs per
// Config.NewIDWindow): past them, Exhausted, while identities seen
// before still get tokens.
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
	known, err := s.db.Has(store.Key(pUser, string(p.Account), string(user)))
	if err != nil {
		return "", errors.E(op, err)
	}
	if !known {
		if err := s.admitUser(op, p.Account, user); err != nil {
			return "", err
		}
	}
	return s.tokens.issue(user, p.Account, s.now())
}

// newIDBudget is how many identities an account may still see for the
// first time: a token bucket that refills at MaxNewIDs per
// NewIDWindow, up to MaxNewIDs. Stored, so a restart does
// not refill it.
type newIDBudget struct {
	Level float64
	At    time.Time // when Level was computed
}

// admitUser records user against account if the account has a new
// identity left to spend, and spends it. It runs under s.mu: two first
// GetTokens must not both spend the last one, nor one identity spend two.
func (s *Service) admitUser(op errors.Op, account, user hub.PubKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := store.Key(pUser, string(account), string(user))
	known, err := s.db.Has(key)
	if err != nil {
		return errors.E(op, err)
	}
	if known { // another call admitted it meanwhile
		return nil
	}
	now := s.now()
	limit, window := float64(s.cfg.MaxNewIDs), s.cfg.NewIDWindow
	rate := limit / window.Seconds() // per second
	b := newIDBudget{Level: limit, At: now}
	err = s.db.Get(store.Key(pNewIDs, string(account)), &b)
	if err != nil && !errors.Is(errors.NotExist, err) {
		return errors.E(op, err)
	}
	if since := now.Sub(b.At); since > 0 {
		b.Level += since.Seconds() * rate
	}
	b.Level = min(limit, b.Level) // also when the operator lowered the limit
	b.At = now
	if b.Level < 1 {
		wait := time.Duration((1 - b.Level) / rate * float64(time.Second)).Round(time.Second)
		return errors.Errorf(op, errors.Exhausted,
			"this app has admitted its %d new identities per %s; identities it has seen before still get tokens, a new one can sign in again in %s (the hub's --max-new-identities-per-app sets the limit)",
			s.cfg.MaxNewIDs, window, max(wait, time.Second))
	}
	b.Level--
	batch := s.db.NewBatch()
	batch.Put(key, userRecord{Identity: user, Account: account, CreatedAt: now})
	batch.Put(store.Key(pNewIDs, string(account)), b)
	return commit(op, batch)
}

// Users lists the end-user identities recorded against account.
func (s *Service) Users(ctx context.Context, account hub.PubKey) ([]hub.PubKey, error) {
	const op errors.Op = "auth.Users"
	var users []hub.PubKey
	err := store.ScanJSON(s.db, store.Key(pUser, string(account), ""), func(_ []byte, u *userRecord) error {
		users = append(users, u.Identity)
		return nil
	})
	if err != nil {
		return nil, errors.E(op, err)
	}
	return users, nil
}
