package auth

import (
	"context"
	"slices"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// CreateKey creates an API key for the account the session acts as (the
// developer, or the org named with x-textile-org).
func (s *Service) CreateKey(ctx context.Context, p hub.Principal, typ hub.KeyType, secure bool) (hub.APIKey, error) {
	const op errors.Op = "auth.CreateKey"
	if err := requireSession(op, p); err != nil {
		return hub.APIKey{}, err
	}
	if typ != hub.AccountKey && typ != hub.UserKey {
		return hub.APIKey{}, errors.Errorf(op, errors.Invalid, "key type %d is unknown; use account (1) or user (2)", typ)
	}
	key, secret, err := newKeyPair()
	if err != nil {
		return hub.APIKey{}, err
	}
	k := hub.APIKey{Key: key, Secret: secret, Owner: p.Account, Type: typ, Secure: secure, Valid: true, CreatedAt: s.now()}
	if p.Kind == hub.OrgPrincipal && typ == hub.AccountKey {
		k.Creator = p.Member
	}
	b := s.db.NewBatch()
	b.Put(store.Key(pKey, key), k)
	b.Put(store.Key(pAcctKey, string(p.Account), key), empty{})
	if err := commit(op, b); err != nil {
		return hub.APIKey{}, err
	}
	return k, nil
}

// ListKeys lists the keys of the account the session acts as, oldest first.
// In an org, a member other than the owner sees the user group keys (they
// reach only app users' data) and the account keys it created itself:
// another member's account key, once seen, would outlive the viewer's
// membership.
func (s *Service) ListKeys(ctx context.Context, p hub.Principal) ([]hub.APIKey, error) {
	const op errors.Op = "auth.ListKeys"
	if err := requireSession(op, p); err != nil {
		return nil, err
	}
	seesAll := true
	if p.Kind == hub.OrgPrincipal {
		org, err := s.account(op, p.Account)
		if err != nil {
			return nil, err
		}
		seesAll = roleOf(org, p.Member) == hub.RoleOwner
	}
	var keys []hub.APIKey
	err := store.ScanJSON(s.db, store.Key(pAcctKey, string(p.Account), ""), func(k []byte, _ *empty) error {
		var key hub.APIKey
		if err := s.db.Get(store.Key(pKey, lastPart(k)), &key); err != nil {
			return err
		}
		if seesAll || key.Type == hub.UserKey || key.Creator == p.Member {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, errors.E(op, err)
	}
	slices.SortStableFunc(keys, func(a, b hub.APIKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return keys, nil
}

// InvalidateKey marks one of the account's keys invalid; requests with it
// are refused from then on. Users it admitted keep their data, which belongs
// to the account.
func (s *Service) InvalidateKey(ctx context.Context, p hub.Principal, key string) error {
	const op errors.Op = "auth.InvalidateKey"
	if err := requireSession(op, p); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var k hub.APIKey
	err := s.db.Get(store.Key(pKey, key), &k)
	if errors.Is(errors.NotExist, err) || (err == nil && k.Owner != p.Account) {
		return errors.Errorf(op, errors.NotExist, "API key %q not found among this account's keys", errors.Clip(key))
	}
	if err != nil {
		return errors.E(op, err)
	}
	k.Valid = false
	b := s.db.NewBatch()
	b.Put(store.Key(pKey, key), k)
	return s.commitRevoking(op, b, Revocation{APIKey: key, Reason: "API key has been invalidated; create a new one (hub keys create)"})
}
