package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/store"
)

// IsUsernameAvailable returns nil when username is valid and free, an
// Invalid error when it breaks the rules and an Exist error when taken.
func (s *Service) IsUsernameAvailable(ctx context.Context, username string) error {
	const op errors.Op = "auth.IsUsernameAvailable"
	if err := checkUsername(op, username); err != nil {
		return err
	}
	taken, err := s.nameTaken(username)
	if err != nil {
		return errors.E(op, err)
	}
	if taken {
		return errors.Errorf(op, errors.Exist, "username %q is taken; choose another", username)
	}
	return nil
}

// Signup creates a developer account and signs it in. Unless the hub runs
// in dev mode, it first e-mails a confirmation link and waits for it to be
// followed. Org invitations already accepted for the e-mail are applied.
func (s *Service) Signup(ctx context.Context, username, email string) (hub.Account, hub.Session, error) {
	const op errors.Op = "auth.Signup"
	if err := s.checkSignup(op, username, email); err != nil {
		return hub.Account{}, hub.Session{}, err
	}
	if err := s.awaitConfirmation(ctx, email, "Confirm your Hub account",
		fmt.Sprintf("Someone signed up to Hub as %q with this address.", username)); err != nil {
		return hub.Account{}, hub.Session{}, errors.E(op, err)
	}
	priv, err := identity.New()
	if err != nil {
		return hub.Account{}, hub.Session{}, err
	}
	rec, err := newAccountRecord(priv, hub.Account{Type: hub.Developer, Name: username, Slug: username, Email: email, CreatedAt: s.now()})
	if err != nil {
		return hub.Account{}, hub.Session{}, errors.E(op, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// The check is repeated under the lock: the name may have been taken
	// while the confirmation was pending.
	if err := s.checkSignup(op, username, email); err != nil {
		return hub.Account{}, hub.Session{}, err
	}
	b := s.db.NewBatch()
	b.Put(store.Key(pName, nameKey(username)), rec.Key)
	b.Put(store.Key(pEmail, nameKey(email)), rec.Key)
	if err := s.applyInvites(b, rec, email); err != nil {
		return hub.Account{}, hub.Session{}, errors.E(op, err)
	}
	sess, err := s.newSession(b, rec.Key)
	if err != nil {
		return hub.Account{}, hub.Session{}, errors.E(op, err)
	}
	b.Put(store.Key(pAccount, string(rec.Key)), rec)
	if err := b.Commit(); err != nil {
		return hub.Account{}, hub.Session{}, errors.E(op, err)
	}
	return rec.Account, sess, nil
}

// checkSignup validates a sign-up's username and e-mail and checks both are
// free.
func (s *Service) checkSignup(op errors.Op, username, email string) error {
	if err := checkUsername(op, username); err != nil {
		return err
	}
	if err := checkEmail(op, email); err != nil {
		return err
	}
	if taken, err := s.nameTaken(username); err != nil {
		return errors.E(op, err)
	} else if taken {
		return errors.Errorf(op, errors.Exist, "username %q is taken; choose another", username)
	}
	if used, err := s.db.Has(store.Key(pEmail, nameKey(email))); err != nil {
		return errors.E(op, err)
	} else if used {
		return errors.Errorf(op, errors.Exist, "e-mail %q already has an account; sign in instead", email)
	}
	return nil
}

// newAccountRecord builds an account record around a fresh identity.
func newAccountRecord(priv crypto.PrivKey, a hub.Account) (*accountRecord, error) {
	key, err := identity.String(priv.GetPublic())
	if err != nil {
		return nil, err
	}
	raw, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	a.Key = key
	return &accountRecord{Account: a, PrivKey: raw}, nil
}

// Signin signs a developer in by username or e-mail, after e-mail
// confirmation unless the hub runs in dev mode.
func (s *Service) Signin(ctx context.Context, usernameOrEmail string) (hub.Account, hub.Session, error) {
	const op errors.Op = "auth.Signin"
	var (
		rec *accountRecord
		err error
	)
	if strings.Contains(usernameOrEmail, "@") {
		rec, err = s.accountByEmail(op, usernameOrEmail)
	} else {
		rec, err = s.accountByName(op, usernameOrEmail)
	}
	if err == nil && rec.Type != hub.Developer {
		err = errors.Errorf(op, errors.NotExist, "%q is an org; sign in as one of its members", errors.Clip(usernameOrEmail))
	}
	if errors.Is(errors.NotExist, err) {
		return hub.Account{}, hub.Session{}, errors.Errorf(op, errors.NotExist, "no developer with username or e-mail %q; sign up first", errors.Clip(usernameOrEmail))
	}
	if err != nil {
		return hub.Account{}, hub.Session{}, err
	}
	if err := s.awaitConfirmation(ctx, rec.Email, "Sign in to Hub",
		fmt.Sprintf("Someone is signing in to Hub as %q.", rec.Name)); err != nil {
		return hub.Account{}, hub.Session{}, errors.E(op, err)
	}
	b := s.db.NewBatch()
	sess, err := s.newSession(b, rec.Key)
	if err != nil {
		return hub.Account{}, hub.Session{}, errors.E(op, err)
	}
	if err := b.Commit(); err != nil {
		return hub.Account{}, hub.Session{}, errors.E(op, err)
	}
	return rec.Account, sess, nil
}

// newSession adds a fresh session for account to b.
func (s *Service) newSession(b *store.Batch, account hub.PubKey) (hub.Session, error) {
	id, err := randomBase32(32)
	if err != nil {
		return hub.Session{}, err
	}
	sess := hub.Session{ID: id, Account: account, ExpiresAt: s.now().Add(s.cfg.SessionTTL)}
	b.Put(store.Key(pSession, id), sess)
	b.Put(store.Key(pAcctSession, string(account), id), empty{})
	return sess, nil
}

// Signout ends the principal's session.
func (s *Service) Signout(ctx context.Context, p hub.Principal) error {
	const op errors.Op = "auth.Signout"
	if err := requireSession(op, p); err != nil {
		return err
	}
	b := s.db.NewBatch()
	b.Delete(store.Key(pSession, p.Session))
	b.Delete(store.Key(pAcctSession, string(p.Member), p.Session))
	return s.commitRevoking(op, b, Revocation{Session: p.Session, Reason: "session ended; sign in again (hub login)"})
}

// SessionInfo returns the developer behind the principal's session.
func (s *Service) SessionInfo(ctx context.Context, p hub.Principal) (hub.Account, error) {
	const op errors.Op = "auth.SessionInfo"
	if err := requireSession(op, p); err != nil {
		return hub.Account{}, err
	}
	rec, err := s.account(op, p.Member)
	if err != nil {
		return hub.Account{}, err
	}
	return rec.Account, nil
}

// Identity returns the private identity of the session's developer.
// Sessions only. An org's private key is never handed out, to its owner
// either: it cannot be taken back, so a member who held it would keep
// acting as the org after leaving it, or after the org is removed. Members
// act as the org through their session (x-textile-org), checked against
// the current membership on every call, and through the org's API keys.
func (s *Service) Identity(ctx context.Context, p hub.Principal) (crypto.PrivKey, error) {
	const op errors.Op = "auth.Identity"
	if err := requireSession(op, p); err != nil {
		return nil, err
	}
	if p.Kind == hub.OrgPrincipal {
		return nil, errors.E(op, errors.FailedPrecondition, "an org's private key never leaves the hub, so that leaving the org ends a member's access; act as the org with your session and x-textile-org (hub -o ORG), or with one of its API keys")
	}
	rec, err := s.account(op, p.Account)
	if err != nil {
		return nil, err
	}
	priv, err := crypto.UnmarshalPrivateKey(rec.PrivKey)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return priv, nil
}

// DestroyAccount deletes the principal's developer account with its
// sessions, keys and memberships. It is refused while the account owns orgs.
func (s *Service) DestroyAccount(ctx context.Context, p hub.Principal) error {
	const op errors.Op = "auth.DestroyAccount"
	if err := requireSession(op, p); err != nil {
		return err
	}
	if p.Kind != hub.DeveloperPrincipal {
		return errors.E(op, errors.Invalid, "DestroyAccount destroys your own account; do not send x-textile-org (use RemoveOrg for an org)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := s.account(op, p.Account)
	if err != nil {
		return err
	}
	orgs, err := s.orgsOf(op, rec.Key)
	if err != nil {
		return err
	}
	var owned []string
	for _, o := range orgs {
		if roleOf(o, rec.Key) == hub.RoleOwner {
			owned = append(owned, o.Slug)
		}
	}
	if len(owned) > 0 {
		return errors.Errorf(op, errors.FailedPrecondition, "account owns org(s) %s; destroy them first (hub orgs destroy)", strings.Join(owned, ", "))
	}
	b := s.db.NewBatch()
	for _, o := range orgs {
		s.removeMember(b, o, rec.Key)
	}
	if err := s.deleteAccountRecords(b, rec); err != nil {
		return errors.E(op, err)
	}
	if err := store.ScanJSON(s.db, store.Key(pAcctSession, string(rec.Key), ""), func(k []byte, _ *empty) error {
		b.Delete(store.Key(pSession, lastPart(k)))
		b.Delete(k)
		return nil
	}); err != nil {
		return errors.E(op, err)
	}
	b.Delete(store.Key(pEmail, nameKey(rec.Email)))
	// Its sessions and keys end, and so do its memberships, which org keys
	// it created depended on.
	revoked := []Revocation{{Account: rec.Key, Reason: "the account was destroyed"}}
	for _, o := range orgs {
		revoked = append(revoked, Revocation{Account: o.Key, Member: rec.Key, Reason: fmt.Sprintf("%s left org %s", rec.Name, o.Slug)})
	}
	return s.commitRevoking(op, b, revoked...)
}

// deleteAccountRecords adds to b the deletion of an account, its name and
// its API keys.
func (s *Service) deleteAccountRecords(b *store.Batch, rec *accountRecord) error {
	b.Delete(store.Key(pAccount, string(rec.Key)))
	b.Delete(store.Key(pName, nameKey(rec.Slug)))
	return store.ScanJSON(s.db, store.Key(pAcctKey, string(rec.Key), ""), func(k []byte, _ *empty) error {
		b.Delete(store.Key(pKey, lastPart(k)))
		b.Delete(k)
		return nil
	})
}

// requireSession refuses principals that did not come from a session.
func requireSession(op errors.Op, p hub.Principal) error {
	if !p.IsSession() {
		return errors.E(op, errors.Permission, "this call needs a developer session (hub login); API keys cannot make it")
	}
	return nil
}
