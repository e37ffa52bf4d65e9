package server

import (
	"encoding/binary"
	"log/slog"
	"math/bits"
	"net"
	"sync"
	"time"
)

// HTTP/2 frame types and flags the receive budget follows (RFC 9113 §6).
const (
	h2Data      = 0x0
	h2Headers   = 0x1
	h2RSTStream = 0x3
	h2GoAway    = 0x7

	h2EndStream = 0x1
	h2Padded    = 0x8

	h2FrameHeader      = 9
	h2EnhanceYourCalm  = 0xb
	h2ClientPrefaceLen = 24 // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

// smallFrameOverhead is what the gRPC library spends, beyond its bytes, on
// a DATA frame too small for its buffer pool (under 1 KiB): the frame is a
// heap slice of its own, wrapped and queued. Charging it keeps a client
// that sends a message a byte per frame from holding far more memory than
// it is charged.
const smallFrameOverhead = 96

// frameCost is the memory the gRPC library holds for a DATA frame whose
// payload (padding included) is n bytes: a buffer from the server's pool
// (bufferPool), whose tiers are powers of two, or a small heap slice.
func frameCost(n int) int64 {
	if n < 1024 {
		return int64(n) + smallFrameOverhead
	}
	return int64(1) << bits.Len(uint(n-1))
}

// recvListener hands the gRPC server connections whose request bytes are
// charged to the receive budget.
type recvListener struct {
	net.Listener
	budget     *recvBudget
	msgTimeout time.Duration
	log        *slog.Logger
}

func (l *recvListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	src := source(c.RemoteAddr())
	return &recvConn{Conn: c, acct: newRecvAccount(l.budget, src), msgTimeout: l.msgTimeout, log: l.log, src: src,
		in: h2Scanner{preface: h2ClientPrefaceLen}, calls: map[uint32]*recvCall{}}, nil
}

// recvConn is a plain gRPC (HTTP/2 over TCP) connection that charges the
// receive budget for the messages its calls are receiving. It follows the
// frames both ways, below the gRPC library, which offers no hook between
// reading a message's length prefix and buffering its body: each DATA
// frame is charged (frameCost) before the library reads it, and a call's
// charges are given back once its messages are whole (the handler that
// asked for the message takes it at once), or when the call ends either
// way (RST_STREAM, END_STREAM, or the server's trailers). The library
// itself reads ahead of a handler at most its stream window (64 KiB, see
// New), which is not charged; nor is the connection's allowance (see
// recvAccount).
//
// When the budget has no room, the connection's reader waits, reading
// nothing more from the client. One that waits longer than the budget's
// wait is told why in a GOAWAY frame and closed: every call on it ends,
// and gives back what it held. So is one with a message that has not
// arrived whole within msgTimeout of its first frame: a client that
// trickles messages would otherwise keep what they hold from everyone.
type recvConn struct {
	net.Conn
	acct       *recvAccount
	msgTimeout time.Duration
	log        *slog.Logger
	src        string

	in h2Scanner // the client's frames; only the reader uses it

	mu     sync.Mutex
	calls  map[uint32]*recvCall // calls open for the client's data, by stream ID; guarded by mu
	lastID uint32               // the highest stream the client opened; guarded by mu
	closed bool                 // guarded by mu

	wmu sync.Mutex
	out h2Scanner // the server's frames; guarded by wmu
}

// recvCall is what a recvConn knows of one call: where its gRPC messages
// begin and end, and what it holds of the budget.
type recvCall struct {
	prefix [grpcPrefix]byte
	nhead  int    // bytes of the current length prefix seen
	left   uint32 // bytes of the current message still to come
	held   int64  // bytes charged for the messages not yet whole
	// slow ends the connection unless the message under way arrives
	// whole in time; nil between messages.
	slow *time.Timer
}

// stopClock stops the call's message timer, if one runs.
func (c *recvCall) stopClock() {
	if c.slow != nil {
		c.slow.Stop()
		c.slow = nil
	}
}

// whole reports whether the call is between messages.
func (c *recvCall) whole() bool { return c.nhead == 0 && c.left == 0 }

// body follows the message bytes b of the call.
func (c *recvCall) body(b []byte) {
	for len(b) > 0 {
		if c.left == 0 {
			k := copy(c.prefix[c.nhead:], b)
			c.nhead += k
			b = b[k:]
			if c.nhead == grpcPrefix {
				c.nhead = 0
				c.left = binary.BigEndian.Uint32(c.prefix[1:])
			}
			continue
		}
		k := min(int(c.left), len(b))
		c.left -= uint32(k)
		b = b[k:]
	}
}

func (c *recvConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if rerr := c.in.scan(p[:n], c.received); rerr != nil {
			return 0, rerr
		}
	}
	return n, err
}

func (c *recvConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.Conn.Write(p)
	c.out.scan(p[:n], c.sent)
	return n, err
}

func (c *recvConn) Close() error {
	c.mu.Lock()
	c.closed = true
	for _, call := range c.calls {
		call.stopClock()
	}
	clear(c.calls)
	c.mu.Unlock()
	c.acct.close()
	return c.Conn.Close()
}

// received follows one event of the client's frames: a frame begins
// (data nil, begin true), brings payload data, or ends. It returns an
// error, having closed the connection, when a frame finds no room.
func (c *recvConn) received(f *h2Frame, data []byte, ev h2Event) error {
	switch {
	case f.typ == h2Data && ev == h2Begin:
		if !c.charge(f.stream, frameCost(int(f.length))) {
			return c.refuse(errNoRoomMsg, "gRPC connection closed: no room for its incoming messages")
		}
	case f.typ == h2Data && ev == h2Payload:
		c.mu.Lock()
		if call := c.calls[f.stream]; call != nil {
			call.body(data)
		}
		c.mu.Unlock()
	case f.typ == h2Data && ev == h2End:
		if f.flags&h2EndStream != 0 {
			c.end(f.stream)
			return nil
		}
		c.mu.Lock()
		var back int64
		switch call := c.calls[f.stream]; {
		case call == nil:
		case call.whole():
			back, call.held = call.held, 0
			call.stopClock()
		case call.slow == nil:
			call.slow = time.AfterFunc(c.msgTimeout, func() {
				c.refuse(errSlowMsg, "gRPC connection closed: a message took too long to arrive")
			})
		}
		c.mu.Unlock()
		c.acct.remove(back)
	case f.typ == h2Headers && ev == h2Begin:
		c.mu.Lock()
		if f.stream > c.lastID && f.stream%2 == 1 {
			c.lastID = f.stream
			if f.flags&h2EndStream == 0 && !c.closed {
				c.calls[f.stream] = &recvCall{}
			}
		}
		c.mu.Unlock()
	case f.typ == h2Headers && ev == h2End && f.flags&h2EndStream != 0, f.typ == h2RSTStream && ev == h2End:
		c.end(f.stream)
	}
	return nil
}

// sent follows the server's frames: trailers or a reset end the call's
// receiving, and the library drops what the client sends on it after.
func (c *recvConn) sent(f *h2Frame, _ []byte, ev h2Event) error {
	if ev == h2End && (f.typ == h2Headers && f.flags&h2EndStream != 0 || f.typ == h2RSTStream) {
		c.end(f.stream)
	}
	return nil
}

// charge holds n bytes for a DATA frame of stream, waiting for room. A
// frame of a call that is not open (ended, or never opened) costs
// nothing: the library drops it.
func (c *recvConn) charge(stream uint32, n int64) bool {
	c.mu.Lock()
	_, open := c.calls[stream]
	c.mu.Unlock()
	if !open {
		return true
	}
	if !c.acct.add(n) {
		return false
	}
	c.mu.Lock()
	call := c.calls[stream]
	if call != nil {
		call.held += n
	}
	c.mu.Unlock()
	if call == nil { // ended while this waited
		c.acct.remove(n)
	}
	return true
}

// end forgets stream and gives back what it held.
func (c *recvConn) end(stream uint32) {
	c.mu.Lock()
	var back int64
	if call := c.calls[stream]; call != nil {
		back = call.held
		call.stopClock()
		delete(c.calls, stream)
	}
	c.mu.Unlock()
	c.acct.remove(back)
}

// Why a connection is closed, as its GOAWAY frame tells the client.
const (
	errNoRoomMsg = "hubd's memory for incoming messages is full (--max-receive-memory, --max-receive-memory-per-ip); this connection waited too long for room: send whole messages, fewer at once"
	errSlowMsg   = "a request message did not arrive whole within --message-timeout of its first bytes: send messages whole, or smaller ones"
)

// refuse closes a connection, for why, after telling the client in a
// GOAWAY frame (the Go client shows its text in the status of the calls
// it ends), when the server's frames allow one between them; it logs
// what.
func (c *recvConn) refuse(why, what string) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed { // by the server, meanwhile
		return net.ErrClosed
	}
	c.mu.Lock()
	last := c.lastID
	c.mu.Unlock()
	c.wmu.Lock()
	if c.out.between() {
		f := make([]byte, h2FrameHeader+8+len(why))
		putFrameHeader(f, 8+len(why), h2GoAway, 0, 0)
		binary.BigEndian.PutUint32(f[9:], last)
		binary.BigEndian.PutUint32(f[13:], h2EnhanceYourCalm)
		copy(f[17:], why)
		c.Conn.Write(f)
	}
	c.wmu.Unlock()
	c.log.Warn(what, "remote", c.RemoteAddr().String(), "source", c.src)
	c.Close()
	return net.ErrClosed
}

func putFrameHeader(b []byte, length int, typ, flags byte, stream uint32) {
	b[0], b[1], b[2] = byte(length>>16), byte(length>>8), byte(length)
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], stream)
}

// h2Frame is the header of an HTTP/2 frame.
type h2Frame struct {
	length uint32
	typ    byte
	flags  byte
	stream uint32
}

// h2Event is what a scanner reports of a frame.
type h2Event int

const (
	h2Begin   h2Event = iota // the header has been read
	h2Payload                // payload data (of DATA frames: without padding)
	h2End                    // the whole frame has been read
)

// h2Scanner follows the frames of one direction of an HTTP/2 connection
// as its bytes pass, in pieces of any size.
type h2Scanner struct {
	preface int // bytes of the client's connection preface still to pass
	hdr     [h2FrameHeader]byte
	nhdr    int     // header bytes seen of the current frame
	f       h2Frame // the current frame, once its header is whole
	left    int     // payload bytes of the current frame still to come
	padLen  int     // padding at the end of the current DATA frame
	needPad bool    // the current DATA frame is padded, and its pad length is still to come
}

// between reports whether the bytes so far end between frames.
func (s *h2Scanner) between() bool { return s.preface == 0 && s.nhdr == 0 && s.left == 0 }

// scan follows p, reporting each frame's events to on; it stops at the
// first error on returns.
func (s *h2Scanner) scan(p []byte, on func(f *h2Frame, data []byte, ev h2Event) error) error {
	if s.preface > 0 {
		k := min(s.preface, len(p))
		s.preface -= k
		p = p[k:]
	}
	for len(p) > 0 {
		if s.nhdr < h2FrameHeader {
			k := copy(s.hdr[s.nhdr:], p)
			s.nhdr += k
			p = p[k:]
			if s.nhdr < h2FrameHeader {
				return nil
			}
			s.f = h2Frame{
				length: uint32(s.hdr[0])<<16 | uint32(s.hdr[1])<<8 | uint32(s.hdr[2]),
				typ:    s.hdr[3],
				flags:  s.hdr[4],
				stream: binary.BigEndian.Uint32(s.hdr[5:]) & (1<<31 - 1),
			}
			s.left = int(s.f.length)
			s.needPad = s.f.typ == h2Data && s.f.flags&h2Padded != 0 && s.left > 0
			s.padLen = 0
			if err := on(&s.f, nil, h2Begin); err != nil {
				return err
			}
		}
		if s.needPad && s.left > 0 && len(p) > 0 {
			s.padLen = int(p[0])
			s.needPad = false
			s.left--
			p = p[1:]
		}
		k := min(s.left, len(p))
		if s.f.typ == h2Data && k > 0 {
			// The payload's last padLen bytes are padding.
			data := p[:k]
			if over := s.padLen - (s.left - k); over > 0 {
				data = data[:max(k-over, 0)]
			}
			if len(data) > 0 {
				if err := on(&s.f, data, h2Payload); err != nil {
					return err
				}
			}
		}
		s.left -= k
		p = p[k:]
		if s.left == 0 && !s.needPad {
			s.nhdr = 0
			if err := on(&s.f, nil, h2End); err != nil {
				return err
			}
		}
	}
	return nil
}
