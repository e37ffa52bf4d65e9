package abuse

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestIdleConns: 160 idle TCP connections to each of the gateway and
// gRPC-Web ports, from four loopback source addresses, against caps of 40
// per port and 30 per IP. Another tenant's gRPC calls are still served;
// every idle connection, including a keep-alive one after its request,
// is closed by hubd; the gateway serves again afterwards.
func TestIdleConns(t *testing.T) {
	const (
		sources = 4  // 127.0.0.2 to 127.0.0.5
		perSrc  = 40 // past --max-conns-per-ip
	)
	raiseOpenFiles(t, 2*sources*perSrc+200)
	h := startHub(t, "--max-conns", "40", "--max-conns-per-ip", "30",
		"--http-header-timeout", "2s", "--http-idle-timeout", "2s")
	other := newTenant(t, h, "alice")

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for _, addr := range []string{h.Addrs.Gateway, h.Addrs.Web} {
		for src := range sources {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+src))}, Timeout: 10 * time.Second}
			for range perSrc {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatalf("dial %s: %v", addr, err)
				}
				idle = append(idle, c)
			}
		}
	}
	// A keep-alive connection that made one request and then idles.
	kept, err := net.Dial("tcp", h.Addrs.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	fmt.Fprintf(kept, "GET /health HTTP/1.1\r\nHost: %s\r\n\r\n", h.Addrs.Gateway)
	br := bufio.NewReader(kept)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health on a fresh connection: %v %v", resp, err)
	}
	resp.Body.Close()
	other.mustBeServed(t)

	// Every idle connection ends: refused past the per-IP cap, or closed
	// by the header timeout once accepted (those past the listener's cap
	// wait their turn).
	deadline := time.Now().Add(2 * time.Minute)
	for i, c := range idle {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("idle connection %d got data; want it closed", i)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("idle connection %d is still open after 2 minutes", i)
		}
	}
	kept.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("an idle keep-alive connection got data; want it closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("an idle keep-alive connection is still open a minute after its request")
	}
	resp, err = http.Get("http://" + h.Addrs.Gateway + "/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the gateway does not serve after the idle connections: %v %v", resp, err)
	}
	resp.Body.Close()
	other.mustBeServed(t)
	h.alive(t)
}

// raiseOpenFiles raises this process's soft limit on open files to at
// least n (up to the hard limit) and fails the test if it cannot.
func raiseOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Fatalf("this test needs %d open files; the hard limit is %d (raise it: ulimit -Hn)", n, lim.Max)
	}
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raise the open-file limit to %d: %v", n, err)
	}
}
