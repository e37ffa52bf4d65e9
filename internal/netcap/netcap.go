// Package netcap caps the connections a listener holds open, in all and
// per remote IP, so that idle or hostile connections can never use up
// hubd's file descriptors: each of hubd's listeners has its own cap, so a
// full one leaves the others serving.
package netcap

import (
	"net"
	"sync"
)

// Listener is a net.Listener that holds at most Max connections open at
// once and at most PerIP from one remote IP. At Max, Accept waits until a
// connection closes (new ones queue in the kernel's backlog); beyond PerIP,
// a new connection is closed as soon as it is accepted, so that one host
// cannot take every slot.
type Listener struct {
	net.Listener
	perIP int
	slots chan struct{} // one token per open connection, up to the cap

	mu   sync.Mutex
	byIP map[string]int // open connections per remote IP; guarded by mu
}

// Listen wraps ln with a cap of max connections in all and perIP from one
// remote IP.
func Listen(ln net.Listener, max, perIP int) *Listener {
	return &Listener{Listener: ln, perIP: perIP, slots: make(chan struct{}, max), byIP: map[string]int{}}
}

// Accept waits for a free slot and for a connection from an IP under its
// cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.slots <- struct{}{}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		ip := remoteIP(c)
		if !l.take(ip) {
			c.Close()
			<-l.slots
			continue
		}
		return &conn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *Listener) take(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP[ip] >= l.perIP {
		return false
	}
	l.byIP[ip]++
	return true
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
	<-l.slots
}

func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

// conn frees its slot once, at the first Close.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
