package auth

import (
	"context"
	"fmt"
	"slices"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/store"
)

// IsOrgNameAvailable returns the slug name would get, or an Exist error when
// that slug (or a username equal to it) is taken.
func (s *Service) IsOrgNameAvailable(ctx context.Context, name string) (slug string, err error) {
	const op errors.Op = "auth.IsOrgNameAvailable"
	if slug, err = orgSlug(op, name); err != nil {
		return "", err
	}
	taken, err := s.nameTaken(slug)
	if err != nil {
		return "", errors.E(op, err)
	}
	if taken {
		return "", errors.Errorf(op, errors.Exist, "the name %q (slug %q) is taken; choose another", name, slug)
	}
	return slug, nil
}

// Host is the public base URL of this hub, reported with orgs.
func (s *Service) Host() string { return s.cfg.LinkBase }

// CreateOrg creates an org owned by the session's developer.
func (s *Service) CreateOrg(ctx context.Context, p hub.Principal, name string) (hub.Account, error) {
	const op errors.Op = "auth.CreateOrg"
	if err := requireSession(op, p); err != nil {
		return hub.Account{}, err
	}
	slug, err := orgSlug(op, name)
	if err != nil {
		return hub.Account{}, err
	}
	priv, err := identity.New()
	if err != nil {
		return hub.Account{}, err
	}
	org, err := newAccountRecord(priv, hub.Account{Type: hub.Organization, Name: name, Slug: slug, CreatedAt: s.now()})
	if err != nil {
		return hub.Account{}, errors.E(op, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if taken, err := s.nameTaken(slug); err != nil {
		return hub.Account{}, errors.E(op, err)
	} else if taken {
		return hub.Account{}, errors.Errorf(op, errors.Exist, "the name %q (slug %q) is taken; choose another", name, slug)
	}
	dev, err := s.account(op, p.Member)
	if err != nil {
		return hub.Account{}, err
	}
	b := s.db.NewBatch()
	b.Put(store.Key(pName, nameKey(slug)), org.Key)
	s.addMember(b, org, dev, hub.RoleOwner)
	if err := commit(op, b); err != nil {
		return hub.Account{}, err
	}
	return org.Account, nil
}

// GetOrg returns the org the principal acts as.
func (s *Service) GetOrg(ctx context.Context, p hub.Principal) (hub.Account, error) {
	const op errors.Op = "auth.GetOrg"
	if err := requireOrg(op, p); err != nil {
		return hub.Account{}, err
	}
	org, err := s.account(op, p.Account)
	if err != nil {
		return hub.Account{}, err
	}
	return org.Account, nil
}

// ListOrgs returns the orgs the session's developer belongs to.
func (s *Service) ListOrgs(ctx context.Context, p hub.Principal) ([]hub.Account, error) {
	const op errors.Op = "auth.ListOrgs"
	if err := requireSession(op, p); err != nil {
		return nil, err
	}
	orgs, err := s.orgsOf(op, p.Member)
	if err != nil {
		return nil, err
	}
	out := make([]hub.Account, len(orgs))
	for i, o := range orgs {
		out[i] = o.Account
	}
	return out, nil
}

// RemoveOrg deletes the org the principal acts as, with its keys. Only its
// owner may.
func (s *Service) RemoveOrg(ctx context.Context, p hub.Principal) error {
	const op errors.Op = "auth.RemoveOrg"
	if err := requireOrg(op, p); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	org, err := s.account(op, p.Account)
	if err != nil {
		return err
	}
	if roleOf(org, p.Member) != hub.RoleOwner {
		return errors.Errorf(op, errors.Permission, "only the owner of %s may remove it", org.Slug)
	}
	b := s.db.NewBatch()
	for _, m := range org.Members {
		b.Delete(store.Key(pMember, string(m.Key), string(org.Key)))
	}
	if err := s.deleteAccountRecords(b, org); err != nil {
		return errors.E(op, err)
	}
	return s.commitRevoking(op, b, Revocation{Account: org.Key, Reason: fmt.Sprintf("org %s was removed", org.Slug)})
}

// InviteToOrg e-mails an invitation to join the principal's org. Following
// the link adds the account with that e-mail, or keeps the invitation for
// when the e-mail signs up. The link's token goes only into the e-mail (or
// hubd's log when no SMTP server is set): were it returned, the inviter
// could accept on the invitee's behalf and force them into the org.
func (s *Service) InviteToOrg(ctx context.Context, p hub.Principal, email string) error {
	const op errors.Op = "auth.InviteToOrg"
	if err := requireOrg(op, p); err != nil {
		return err
	}
	if err := checkEmail(op, email); err != nil {
		return err
	}
	org, err := s.account(op, p.Account)
	if err != nil {
		return err
	}
	from, err := s.account(op, p.Member)
	if err != nil {
		return err
	}
	if from.Email == email {
		return errors.Errorf(op, errors.Invalid, "%s is your own e-mail; you are already a member of %s", email, org.Slug)
	}
	token, err := randomBase32(32)
	if err != nil {
		return err
	}
	inv := inviteRecord{Token: token, Org: org.Key, OrgName: org.Name, From: from.Key, Email: email, ExpiresAt: s.now().Add(s.cfg.InviteTTL)}
	b := s.db.NewBatch()
	b.Put(store.Key(pInvite, token), inv)
	if err := commit(op, b); err != nil {
		return err
	}
	link := fmt.Sprintf("%s/consent/%s", s.cfg.LinkBase, token)
	body := fmt.Sprintf("%s invited you to join the org %q on Hub.\n\nTo accept, open this link within %s:\n\n%s\n\nIf you have no Hub account yet, sign up with this e-mail address after accepting.\n",
		from.Name, org.Name, s.cfg.InviteTTL, link)
	if err := s.mailer.Send(ctx, email, fmt.Sprintf("Join %s on Hub", org.Name), body); err != nil {
		return errors.E(op, errors.Unavailable, fmt.Errorf("could not send the invitation e-mail: %w", err))
	}
	return nil
}

// LeaveOrg removes the session's developer from the org it acts as. The
// owner cannot leave; it removes the org instead.
func (s *Service) LeaveOrg(ctx context.Context, p hub.Principal) error {
	const op errors.Op = "auth.LeaveOrg"
	if err := requireOrg(op, p); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	org, err := s.account(op, p.Account)
	if err != nil {
		return err
	}
	if roleOf(org, p.Member) == hub.RoleOwner {
		return errors.Errorf(op, errors.FailedPrecondition, "the owner cannot leave %s; remove the org instead (hub orgs destroy)", org.Slug)
	}
	b := s.db.NewBatch()
	s.removeMember(b, org, p.Member)
	return s.commitRevoking(op, b, Revocation{Account: org.Key, Member: p.Member, Reason: fmt.Sprintf("you left org %s", org.Slug)})
}

// OrgAccess checks again that p, a principal acting as an org, still may:
// the org exists, the member behind a session still belongs to it, and an
// API key is still valid with its creator still a member. Calls that
// outlive their door (streams) run it when a revocation touches their org
// and end when it fails, so that leaving an org or removing it cuts them
// off too, and so does the end of the membership of an org key's creator.
func (s *Service) OrgAccess(ctx context.Context, p hub.Principal) error {
	const op errors.Op = "auth.OrgAccess"
	org, err := s.account(op, p.Account)
	if err != nil {
		return errors.E(op, errors.Permission, "the org this call acted as no longer exists")
	}
	if p.Member != "" && roleOf(org, p.Member) == "" {
		return errors.Errorf(op, errors.Permission, "you are no longer a member of org %s", org.Slug)
	}
	if p.APIKey != "" {
		var k hub.APIKey
		if err := s.db.Get(store.Key(pKey, p.APIKey), &k); err != nil || !k.Valid || (k.Creator != "" && roleOf(org, k.Creator) == "") {
			return errors.Errorf(op, errors.Permission, "the API key this call used no longer acts for org %s", org.Slug)
		}
	}
	return nil
}

// orgsOf loads the orgs a developer belongs to.
func (s *Service) orgsOf(op errors.Op, dev hub.PubKey) ([]*accountRecord, error) {
	var orgs []*accountRecord
	err := store.ScanJSON(s.db, store.Key(pMember, string(dev), ""), func(k []byte, _ *empty) error {
		org, err := s.account(op, hub.PubKey(lastPart(k)))
		if err != nil {
			return err
		}
		orgs = append(orgs, org)
		return nil
	})
	return orgs, err
}

// roleOf returns a member's role in org, or "" for a non-member.
func roleOf(org *accountRecord, dev hub.PubKey) hub.Role {
	for _, m := range org.Members {
		if m.Key == dev {
			return m.Role
		}
	}
	return ""
}

// addMember adds dev to org (updating org in place) in b; a member already
// present is left as is.
func (s *Service) addMember(b *store.Batch, org, dev *accountRecord, role hub.Role) {
	if roleOf(org, dev.Key) == "" {
		org.Members = append(org.Members, hub.Member{Key: dev.Key, Username: dev.Name, Role: role})
	}
	b.Put(store.Key(pAccount, string(org.Key)), org)
	b.Put(store.Key(pMember, string(dev.Key), string(org.Key)), empty{})
}

// removeMember removes dev from org (updating org in place) in b.
func (s *Service) removeMember(b *store.Batch, org *accountRecord, dev hub.PubKey) {
	org.Members = slices.DeleteFunc(org.Members, func(m hub.Member) bool { return m.Key == dev })
	b.Put(store.Key(pAccount, string(org.Key)), org)
	b.Delete(store.Key(pMember, string(dev), string(org.Key)))
}

// requireOrg refuses principals that are not a session acting as an org.
func requireOrg(op errors.Op, p hub.Principal) error {
	if err := requireSession(op, p); err != nil {
		return err
	}
	if p.Kind != hub.OrgPrincipal {
		return errors.E(op, errors.Invalid, "this call acts on an org: name it with x-textile-org (hub -o ORG)")
	}
	return nil
}
