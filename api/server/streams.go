package server

import (
	"context"
	"sync"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
)

// recentRevocations is how many revocations streams keeps, for the
// streams whose authentication they crossed (see add).
const recentRevocations = 64

// streams counts the open streams of each owner and account, to refuse
// more than the caps, and holds a way to end each one, so that a
// revocation reaches the streams its principal already has open.
type streams struct {
	perOwner, perAccount int
	// orgAccess checks again that an org principal still acts for its
	// org (auth.Service.OrgAccess).
	orgAccess func(hub.Principal) error

	mu      sync.Mutex
	open    map[*openStream]struct{} // guarded by mu
	byOwner map[hub.PubKey]int       // guarded by mu
	byAcct  map[hub.PubKey]int       // guarded by mu
	seq     uint64                   // revocations seen; guarded by mu
	recent  []auth.Revocation        // the last recentRevocations, the newest last; guarded by mu
}

// openStream is one registered stream: its principal and the func that
// ends it with a cause.
type openStream struct {
	p      hub.Principal
	cancel context.CancelCauseFunc
}

func newStreams(perOwner, perAccount int, orgAccess func(hub.Principal) error) *streams {
	return &streams{perOwner: perOwner, perAccount: perAccount, orgAccess: orgAccess, open: map[*openStream]struct{}{},
		byOwner: map[hub.PubKey]int{}, byAcct: map[hub.PubKey]int{}}
}

// epoch is the number of revocations seen so far. A call takes it before
// it is authenticated and passes it to add.
func (s *streams) epoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// add registers a stream of p, authenticated from epoch since on and
// ended by cancel, unless p already has as many open as a cap allows or
// a revocation since then ended its access. It returns the func that
// unregisters it.
func (s *streams) add(p hub.Principal, since uint64, cancel context.CancelCauseFunc) (func(), error) {
	return s.register(p, since, cancel, true)
}

// watch registers a stream of p as add does, for revocations to reach,
// but counts it against no cap: a sign-in (GetToken), which comes before
// the identity it proves and is bounded by signins instead, so that
// sign-ins in progress never take the streams of the app's account.
func (s *streams) watch(p hub.Principal, since uint64, cancel context.CancelCauseFunc) (func(), error) {
	return s.register(p, since, cancel, false)
}

func (s *streams) register(p hub.Principal, since uint64, cancel context.CancelCauseFunc, capped bool) (func(), error) {
	const op errors.Op = "server.stream"
	owner := p.Owner()
	s.mu.Lock()
	if capped && s.byOwner[owner] >= s.perOwner {
		s.mu.Unlock()
		return nil, errors.Errorf(op, errors.Exhausted, "%s already has %d streams open, the most this hub allows (--max-streams-per-principal); close some (end Listen calls and transactions) first", owner, s.perOwner)
	}
	if capped && s.byAcct[p.Account] >= s.perAccount {
		s.mu.Unlock()
		return nil, errors.Errorf(op, errors.Exhausted, "the account %s and its users already have %d streams open, the most this hub allows (--max-streams-per-account); close some first", p.Account, s.perAccount)
	}
	st := &openStream{p: p, cancel: cancel}
	s.open[st] = struct{}{}
	if capped {
		s.byOwner[owner]++
		s.byAcct[p.Account]++
	}
	// Revocations from now on reach st by revoke; those that crossed its
	// authentication are checked here.
	crossed := s.recent[len(s.recent)-min(int(s.seq-since), len(s.recent)):]
	crossed = append([]auth.Revocation(nil), crossed...)
	s.mu.Unlock()
	remove := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.open, st)
		if !capped {
			return
		}
		if s.byOwner[owner]--; s.byOwner[owner] <= 0 {
			delete(s.byOwner, owner)
		}
		if s.byAcct[p.Account]--; s.byAcct[p.Account] <= 0 {
			delete(s.byAcct, p.Account)
		}
	}
	for _, r := range crossed {
		if err := s.ended(r, p); err != nil {
			remove()
			return nil, err
		}
	}
	return remove, nil
}

// revoke ends every open stream whose access r ended.
func (s *streams) revoke(r auth.Revocation) {
	s.mu.Lock()
	s.seq++
	if s.recent = append(s.recent, r); len(s.recent) > recentRevocations {
		s.recent = s.recent[1:]
	}
	var touched []*openStream
	for st := range s.open {
		if touches(r, st.p) {
			touched = append(touched, st)
		}
	}
	s.mu.Unlock()
	// Checking an org's access reads the store: not under mu.
	for _, st := range touched {
		if err := s.ended(r, st.p); err != nil {
			st.cancel(err)
		}
	}
}

// touches reports whether r may have ended p's access: it covers p, or p
// acts as the org r is about.
func touches(r auth.Revocation, p hub.Principal) bool {
	return r.Covers(p) || p.Kind == hub.OrgPrincipal && r.Account == p.Account
}

// ended returns why r ended p's access, or nil if it did not. A principal
// acting as an org is checked against the org again (PermissionDenied
// when it no longer acts for it: a member left, the org is gone, an org
// key's creator left); any other is Unauthenticated with r's reason.
func (s *streams) ended(r auth.Revocation, p hub.Principal) error {
	const op errors.Op = "server.stream"
	if !touches(r, p) {
		return nil
	}
	if p.Kind == hub.OrgPrincipal {
		if err := s.orgAccess(p); err != nil {
			return err
		}
	}
	if r.Covers(p) {
		return errors.Errorf(op, errors.Unauthenticated, "access revoked: %s", r.Reason)
	}
	return nil
}
