package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// awaitConfirmation e-mails a confirmation link to email and waits until it
// is followed (Confirm), the caller goes away or ConfirmTimeout passes. In
// dev mode it returns at once.
func (s *Service) awaitConfirmation(ctx context.Context, email, subject, why string) error {
	const op errors.Op = "auth.awaitConfirmation"
	if s.cfg.Dev {
		return nil
	}
	token, err := randomBase32(32)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	s.pendingMu.Lock()
	s.pending[token] = done
	s.pendingMu.Unlock()
	defer func() {
		s.pendingMu.Lock()
		delete(s.pending, token)
		s.pendingMu.Unlock()
	}()
	link := fmt.Sprintf("%s/confirm/%s", s.cfg.LinkBase, token)
	body := fmt.Sprintf("%s\n\nTo confirm, open this link within %s:\n\n%s\n\nIf this was not you, ignore this message.\n", why, s.cfg.ConfirmTimeout, link)
	if err := s.mailer.Send(ctx, email, subject, body); err != nil {
		return errors.E(op, errors.Unavailable, fmt.Errorf("could not send the confirmation e-mail: %w", err))
	}
	timer := time.NewTimer(s.cfg.ConfirmTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.E(op, ctx.Err())
	case <-timer.C:
		return errors.Errorf(op, errors.DeadlineExceeded, "the link e-mailed to %s was not followed within %s; try again", email, s.cfg.ConfirmTimeout)
	}
}

// Confirm marks the confirmation with token as followed, releasing the
// Signup or Signin that waits on it.
func (s *Service) Confirm(token string) error {
	const op errors.Op = "auth.Confirm"
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	done, ok := s.pending[token]
	if !ok {
		return errors.E(op, errors.NotExist, "this confirmation link is unknown or has expired; start again")
	}
	delete(s.pending, token)
	close(done)
	return nil
}

// AcceptInvite follows an org invitation link. When the invited e-mail
// already has an account, it joins the org now; otherwise the invitation
// is kept and applied when that e-mail signs up. It returns the org's name
// and whether the account joined now.
func (s *Service) AcceptInvite(ctx context.Context, token string) (org string, joined bool, err error) {
	const op errors.Op = "auth.AcceptInvite"
	s.mu.Lock()
	defer s.mu.Unlock()
	var inv inviteRecord
	if err := s.db.Get(store.Key(pInvite, token), &inv); err != nil {
		if errors.Is(errors.NotExist, err) {
			return "", false, errors.E(op, errors.NotExist, "this invitation is unknown or was already used")
		}
		return "", false, errors.E(op, err)
	}
	if s.now().After(inv.ExpiresAt) {
		return "", false, errors.Errorf(op, errors.FailedPrecondition, "this invitation to %s expired at %s; ask for a new one", inv.OrgName, inv.ExpiresAt.UTC().Format(time.RFC3339))
	}
	orgRec, err := s.account(op, inv.Org)
	if err != nil {
		return "", false, errors.Errorf(op, errors.NotExist, "the org %s no longer exists", inv.OrgName)
	}
	if roleOf(orgRec, inv.From) == "" {
		return "", false, errors.Errorf(op, errors.NotExist, "this invitation to %s lapsed: its sender is no longer a member; ask a member for a new one", inv.OrgName)
	}
	b := s.db.NewBatch()
	dev, err := s.accountByEmail(op, inv.Email)
	switch {
	case err == nil:
		s.addMember(b, orgRec, dev, hub.RoleMember)
		b.Delete(store.Key(pInvite, token))
		b.Delete(store.Key(pInvitee, nameKey(inv.Email), token))
		joined = true
	case errors.Is(errors.NotExist, err):
		inv.Accepted = true
		b.Put(store.Key(pInvite, token), inv)
		b.Put(store.Key(pInvitee, nameKey(inv.Email), token), empty{})
	default:
		return "", false, err
	}
	if err := commit(op, b); err != nil {
		return "", false, err
	}
	return orgRec.Name, joined, nil
}

// applyInvites adds to b the memberships of every accepted, unexpired
// invitation for email, for an account being created.
func (s *Service) applyInvites(b *store.Batch, dev *accountRecord, email string) error {
	const op errors.Op = "auth.applyInvites"
	return store.ScanJSON(s.db, store.Key(pInvitee, nameKey(email), ""), func(k []byte, _ *empty) error {
		token := lastPart(k)
		b.Delete(k)
		b.Delete(store.Key(pInvite, token))
		var inv inviteRecord
		if err := s.db.Get(store.Key(pInvite, token), &inv); err != nil || s.now().After(inv.ExpiresAt) {
			return nil
		}
		org, err := s.account(op, inv.Org)
		if err != nil || roleOf(org, inv.From) == "" {
			return nil // the org or its inviter is gone; the invitation lapses
		}
		s.addMember(b, org, dev, hub.RoleMember)
		return nil
	})
}
