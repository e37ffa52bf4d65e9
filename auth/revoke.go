package auth

import (
	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// A Revocation says which principals lost their access: a key was
// invalidated, a session ended, a member left an org, an org or an account
// was removed. Calls authenticate afresh, so they see it at once; what
// subscribes (the API edge) ends the streams already open: those it
// Covers, and those acting as the org it names if OrgAccess now fails
// (an org key whose creator left).
type Revocation struct {
	// APIKey, if set, is the invalidated key.
	APIKey string
	// Session, if set, is the ended session.
	Session string
	// Account is the removed account, or with Member, the org Member left.
	Account hub.PubKey
	Member  hub.PubKey
	// Reason says what happened and what to do, for the callers whose
	// streams end.
	Reason string
}

// Covers reports whether p acted by what r revokes.
func (r Revocation) Covers(p hub.Principal) bool {
	switch {
	case r.APIKey != "":
		return p.APIKey == r.APIKey
	case r.Session != "":
		return p.Session == r.Session
	case r.Member != "":
		return p.Account == r.Account && p.Member == r.Member
	}
	return r.Account != "" && (p.Account == r.Account || p.Member == r.Account)
}

// OnRevoke calls fn after each revocation is committed, until the
// returned func is called. fn runs on the revoking call's goroutine and
// must not block.
func (s *Service) OnRevoke(fn func(Revocation)) (stop func()) {
	s.revokeMu.Lock()
	defer s.revokeMu.Unlock()
	id := s.nextWatcher
	s.nextWatcher++
	s.watchers[id] = fn
	return func() {
		s.revokeMu.Lock()
		delete(s.watchers, id)
		s.revokeMu.Unlock()
	}
}

// commitRevoking commits b, which ends some access, and then tells the
// watchers of each of rs.
func (s *Service) commitRevoking(op errors.Op, b *store.Batch, rs ...Revocation) error {
	if err := commit(op, b); err != nil {
		return err
	}
	s.revokeMu.Lock()
	defer s.revokeMu.Unlock()
	for _, r := range rs {
		for _, fn := range s.watchers {
			fn(r)
		}
	}
	return nil
}
