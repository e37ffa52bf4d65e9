package main

import "testing"

func TestTCPHostPort(t *testing.T) {
	for _, c := range []struct {
		name, addr, want string
		ok               bool
	}{
		{"loopback", "/ip4/127.0.0.1/tcp/8080", "127.0.0.1:8080", true},
		{"trailing newline", "/ip4/127.0.0.1/tcp/8080\n", "127.0.0.1:8080", true},
		{"ipv6", "/ip6/::1/tcp/8080", "", false},
		{"unix socket", "/unix/tmp/gw.sock", "", false},
		{"no port", "/ip4/127.0.0.1/tcp", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := tcpHostPort(c.addr)
			if (err == nil) != c.ok || got != c.want {
				t.Fatalf("tcpHostPort(%q) = %q, %v; want %q, ok %v", c.addr, got, err, c.want, c.ok)
			}
		})
	}
}
