package threadsclient

import (
	"bytes"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-varint"

	"github.com/selfhub/hub/threads"
)

// threadAddr appends /thread/<id> to host in multiaddr's binary form, as
// the server does.
func threadAddr(t *testing.T, host string, id ID) []byte {
	t.Helper()
	b := ma.StringCast(host).Bytes()
	b = append(b, varint.ToUvarint(threads.AddrCode)...)
	b = append(b, varint.ToUvarint(uint64(len(id)))...)
	return append(b, id...)
}

func TestAddrString(t *testing.T) {
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	const peer = "/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	for _, host := range []string{
		"/ip4/127.0.0.1/tcp/4006" + peer,
		"/ip6/::1/udp/4006/quic-v1" + peer,
		"/dns4/hub.example.com/tcp/4006" + peer, // a length-prefixed component
	} {
		got, err := addrString(threadAddr(t, host, id))
		if want := host + "/thread/" + id.String(); err != nil || got != want {
			t.Errorf("addrString(%s/thread/…) = %q, %v; want %q", host, got, err, want)
		}
	}

	good := threadAddr(t, "/ip4/127.0.0.1/tcp/4006", id)
	bad := []struct {
		name string
		b    []byte
		hint string
	}{
		{"cut short in the thread ID", good[:len(good)-3], "cut short"},
		{"cut short in a host component", good[:3], "cut short"},
		{"unknown protocol", append(varint.ToUvarint(0x7ffff), 1, 2), "unknown protocol"},
		{"malformed thread ID", append(ma.StringCast("/ip4/127.0.0.1").Bytes(), append(varint.ToUvarint(threads.AddrCode), 2, 1, 2)...), "thread component"},
	}
	for _, c := range bad {
		if s, err := addrString(c.b); err == nil || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s: addrString = %q, %v; want an error saying %q", c.name, s, err, c.hint)
		}
	}
}

// TestAddrBytes checks that addrBytes encodes a DB address as the server
// does (threadAddr) and addrString reads it back, and refuses what is not
// a DB address.
func TestAddrBytes(t *testing.T) {
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	const peer = "/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	for _, host := range []string{"/ip4/127.0.0.1/tcp/4006" + peer, "/dns4/hub.example.com/tcp/4006" + peer} {
		s := host + "/thread/" + id.String()
		b, got, err := addrBytes(s)
		if err != nil || got != id || !bytes.Equal(b, threadAddr(t, host, id)) {
			t.Errorf("addrBytes(%s) = %x, %s, %v; want %x, %s", s, b, got, err, threadAddr(t, host, id), id)
			continue
		}
		if back, err := addrString(b); err != nil || back != s {
			t.Errorf("addrString(addrBytes(%s)) = %q, %v", s, back, err)
		}
	}
	bad := []struct {
		name, addr, hint string
	}{
		{"no thread component", "/ip4/127.0.0.1/tcp/4006" + peer, "does not end in /thread/<id>"},
		{"thread component not last", "/ip4/127.0.0.1/thread/" + id.String() + "/tcp/4006", "thread component"},
		{"malformed thread ID", "/ip4/127.0.0.1/tcp/4006/thread/nope", "thread component"},
		{"malformed host", "/ip4/300.0.0.1/tcp/4006/thread/" + id.String(), "300.0.0.1"},
	}
	for _, c := range bad {
		if b, _, err := addrBytes(c.addr); err == nil || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s: addrBytes = %x, %v; want an error saying %q", c.name, b, err, c.hint)
		}
	}
}
