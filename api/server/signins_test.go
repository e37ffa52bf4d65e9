package server

import (
	"net"
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
)

// TestSignInCaps: one source gets its share of sign-ins, then
// ResourceExhausted naming --max-signins-per-ip; other sources are
// admitted up to the hub's cap (--max-signins); a sign-in that ends frees
// its place.
func TestSignInCaps(t *testing.T) {
	s := newSignins(2, 3)
	addr := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000} }
	var done []func()
	admit := func(ip string) error {
		d, err := s.admit(addr(ip))
		if err == nil {
			done = append(done, d)
		}
		return err
	}
	for range 2 {
		if err := admit("192.0.2.1"); err != nil {
			t.Fatalf("a sign-in under the caps: %v", err)
		}
	}
	if err := admit("192.0.2.1"); !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-signins-per-ip") {
		t.Fatalf("a third sign-in from one address gave %v; want Exhausted naming --max-signins-per-ip", err)
	}
	if err := admit("192.0.2.2"); err != nil {
		t.Fatalf("a sign-in from another address: %v", err)
	}
	if err := admit("192.0.2.3"); !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-signins") {
		t.Fatalf("a fourth sign-in in the hub gave %v; want Exhausted naming --max-signins", err)
	}
	done[0]()
	if err := admit("192.0.2.3"); err != nil {
		t.Fatalf("a sign-in after one ended: %v", err)
	}
	for _, d := range done[1:] {
		d()
	}
	if s.n != 0 || len(s.bySource) != 0 {
		t.Fatalf("after every sign-in ended the caps still hold %d (%v); want nothing", s.n, s.bySource)
	}
}

// TestSignInSource: addresses of one host share a source, an IPv6 /64
// counting as one host; gRPC-Web calls name their peer by a string.
func TestSignInSource(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		same       bool
	}{
		{"one IPv4 address, two ports", "192.0.2.1:1", "192.0.2.1:2", true},
		{"two IPv4 addresses", "192.0.2.1:1", "192.0.2.2:1", false},
		{"IPv4 and its IPv6-mapped form", "192.0.2.1:1", "[::ffff:192.0.2.1]:1", true},
		{"one IPv6 /64", "[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:1", true},
		{"two IPv6 /64s", "[2001:db8:1:2::1]:1", "[2001:db8:1:3::1]:1", false},
		{"a zone is the same host", "[fe80::1%eth0]:1", "[fe80::1]:1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := source(strAddr(tc.a)), source(strAddr(tc.b))
			if (a == b) != tc.same {
				t.Fatalf("source(%s) = %q, source(%s) = %q; want same = %v", tc.a, a, tc.b, b, tc.same)
			}
		})
	}
	if src := source(&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 3}); src != source(strAddr("192.0.2.1:9")) {
		t.Fatalf("a TCP address and its string form give %q and %q", src, source(strAddr("192.0.2.1:9")))
	}
}

// strAddr is an address known only by its string, as gRPC names the peer
// of a call it serves over HTTP (gRPC-Web).
type strAddr string

func (a strAddr) Network() string { return "tcp" }
func (a strAddr) String() string  { return string(a) }
