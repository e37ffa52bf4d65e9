package netcap

import (
	"net"
	"testing"
	"time"
)

func TestListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listen(inner, 2, 1)
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func(src byte) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, src)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, err := c.Read(make([]byte, 1))
		ne, ok := err.(net.Error)
		return err != nil && !(ok && ne.Timeout())
	}

	dial(2)
	first := <-accepted
	if second := dial(2); !closed(second) {
		t.Fatal("a second connection from one IP past its cap of 1 was not closed")
	}
	dial(3)
	<-accepted
	dial(4) // past the cap of 2: waits for a slot
	select {
	case c := <-accepted:
		t.Fatalf("a third connection was accepted past the cap of 2: %v", c.RemoteAddr())
	default:
	}
	first.Close()
	select {
	case c := <-accepted:
		if got := c.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.4" {
			t.Fatalf("accepted %s once a slot was free; want the waiting 127.0.0.4", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting connection was not accepted when a slot was freed")
	}
}
