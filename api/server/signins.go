package server

import (
	"net"
	"net/netip"
	"sync"

	"github.com/selfhub/hub/errors"
)

// signins bounds the sign-ins (GetToken exchanges) in progress, by where
// they come from and in the whole hub. A sign-in comes before the identity
// it proves, and anyone can start one with an app's public user group key,
// so it is not counted against that app's streams (its account's, or its
// developer's): a stranger holding unanswered challenges would otherwise
// lock the app's users out and take its developer's streams. Each remote
// address gets its own small share instead, and the hub-wide cap bounds
// what all of them together hold. A sign-in costs nothing once it ends,
// answered or not.
type signins struct {
	perSource, max int

	mu       sync.Mutex
	n        int            // sign-ins in progress; guarded by mu
	bySource map[string]int // sign-ins in progress per source (see source); guarded by mu
}

func newSignins(perSource, max int) *signins {
	return &signins{perSource: perSource, max: max, bySource: map[string]int{}}
}

// admit counts a sign-in from addr, unless its source or the hub already
// has as many in progress as allowed. It returns the func that ends it.
func (s *signins) admit(addr net.Addr) (func(), error) {
	const op errors.Op = "server.signin"
	src := source(addr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bySource[src] >= s.perSource {
		return nil, errors.Errorf(op, errors.Exhausted, "%d sign-ins (GetToken) from your address are already in progress, the most this hub allows (--max-signins-per-ip); answer or end them first", s.perSource)
	}
	if s.n >= s.max {
		return nil, errors.Errorf(op, errors.Exhausted, "the hub has %d sign-ins (GetToken) in progress, the most it allows (--max-signins); try again in a few seconds", s.max)
	}
	s.n++
	s.bySource[src]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.n--
		if s.bySource[src]--; s.bySource[src] <= 0 {
			delete(s.bySource, src)
		}
	}, nil
}

// source names where a call comes from: its remote IPv4 address, or the
// /64 network of an IPv6 one (what one host or subscriber is usually
// given, so that a single machine cannot take a share per address of its
// network). An address that is not IP (a test's pipe) is its own source.
func source(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	return sourceOf(addr.String())
}

// sourceOf is source of an address in its string form (host:port).
func sourceOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	pfx, _ := ip.WithZone("").Prefix(64)
	return pfx.String()
}
