package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/improbable-eng/grpc-web/go/grpcweb"

	"github.com/selfhub/hub/errors"
)

// wsPingInterval is how often an idle websocket is pinged; a client that
// answers keeps the connection from reaching the web idle timeout.
const wsPingInterval = 20 * time.Second

// grpcWebOverhead is what gRPC-Web adds to a message: the 5-byte length
// prefix, and on websockets one byte that says whether more follows.
const grpcWebOverhead = 6

// Web returns an HTTP handler that serves the same services over gRPC-Web,
// with websockets for every call (the @textile clients' default) and CORS
// open to browsers, including the x-textile-* request headers.
//
// No message is larger than Limits.MaxMessageSize. A websocket call is
// guarded from the upgrade on (see wsConn): until its call is
// authenticated it may send at most Limits.WebPreAuthBytes and must
// start its call within Limits.HandshakeTimeout, and it is closed after
// Limits.WebIdleTimeout without a byte either way.
func (s *Server) Web() http.Handler {
	web := grpcweb.WrapServer(s.grpc,
		grpcweb.WithOriginFunc(func(string) bool { return true }),
		grpcweb.WithWebsockets(true),
		grpcweb.WithWebsocketOriginFunc(func(*http.Request) bool { return true }),
		grpcweb.WithWebsocketPingInterval(wsPingInterval),
		grpcweb.WithAllowedRequestHeaders([]string{"*"}),
		grpcweb.WithWebsocketsMessageReadLimit(int64(s.limits.MaxMessageSize)+grpcWebOverhead),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !web.IsGrpcWebSocketRequest(r) {
			// Plain gRPC-Web carries one request message: its body is
			// never larger than the largest message.
			r.Body = http.MaxBytesReader(w, r.Body, int64(s.limits.MaxMessageSize)+grpcWebOverhead)
			web.ServeHTTP(w, r)
			return
		}
		g := &wsGuard{limits: s.limits, decided: make(chan struct{})}
		web.ServeHTTP(&wsHijacker{ResponseWriter: w, g: g}, r.WithContext(context.WithValue(r.Context(), wsGuardKey{}, g)))
	})
}

type wsGuardKey struct{}

// wsStarted tells a websocket call's guard, if the call came by one, that
// its call has started, authenticated or not (an Open method).
func wsStarted(ctx context.Context, authenticated bool) {
	if g, ok := ctx.Value(wsGuardKey{}).(*wsGuard); ok {
		g.started(authenticated)
	}
}

// wsGuard is the state of one websocket call's connection. gRPC-Web reads
// a websocket's messages eagerly, before gRPC has authenticated the call,
// so the guard works below it, on the connection's bytes: before the call
// is authenticated, at most WebPreAuthBytes are read (enough for the
// header message with the credentials, and a unary request of that size);
// past them, reading waits until the call is settled, and goes on only if
// it was authenticated. A call that has not started by HandshakeTimeout,
// and a connection idle for WebIdleTimeout, is closed.
type wsGuard struct {
	limits  Limits
	decided chan struct{} // closed when the call has started

	mu     sync.Mutex
	conn   net.Conn    // the hijacked connection; guarded by mu
	authed bool        // the call was authenticated; guarded by mu
	budget int         // bytes left to read before authentication; guarded by mu
	start  *time.Timer // closes conn unless the call starts in time; guarded by mu
	idle   *time.Timer // closes conn when nothing moves; guarded by mu
}

// started records that the call has started: the bytes it reads are no
// longer limited if it was authenticated.
func (g *wsGuard) started(authenticated bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.decided:
		return
	default:
	}
	g.authed = authenticated
	if g.start != nil {
		g.start.Stop()
	}
	close(g.decided)
}

// hijacked starts guarding c, the connection the websocket took over.
func (g *wsGuard) hijacked(c net.Conn) net.Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.conn, g.budget = c, g.limits.WebPreAuthBytes
	g.start = time.AfterFunc(g.limits.HandshakeTimeout, func() {
		c.Close()
		g.started(false)
	})
	g.idle = time.AfterFunc(g.limits.WebIdleTimeout, func() { c.Close() })
	return &wsConn{Conn: c, g: g}
}

// allow returns how many of n bytes may be read now: all once the call is
// authenticated, else what is left of the budget, waiting for the call to
// start when none is.
func (g *wsGuard) allow(n int) (int, error) {
	g.mu.Lock()
	if g.authed {
		g.mu.Unlock()
		return n, nil
	}
	if g.budget == 0 {
		g.mu.Unlock()
		<-g.decided // or the start timer closes the conn, failing the read
		g.mu.Lock()
		if !g.authed {
			g.mu.Unlock()
			return 0, errors.Errorf("server.web", errors.Exhausted, "a websocket call may send %d bytes before it is authenticated (--web-preauth-bytes)", g.limits.WebPreAuthBytes)
		}
		g.mu.Unlock()
		return n, nil
	}
	n = min(n, g.budget)
	g.mu.Unlock()
	return n, nil
}

// moved records n bytes read (counted against the budget) or written, and
// puts off the idle timeout.
func (g *wsGuard) moved(n int, read bool) {
	if n <= 0 {
		return
	}
	g.mu.Lock()
	if read && !g.authed {
		g.budget -= n
	}
	g.idle.Reset(g.limits.WebIdleTimeout)
	g.mu.Unlock()
}

// wsConn is a websocket's connection under its guard.
type wsConn struct {
	net.Conn
	g *wsGuard
}

func (c *wsConn) Read(p []byte) (int, error) {
	n, err := c.g.allow(len(p))
	if err != nil {
		c.Conn.Close()
		return 0, err
	}
	n, err = c.Conn.Read(p[:n])
	c.g.moved(n, true)
	return n, err
}

func (c *wsConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.g.moved(n, false)
	return n, err
}

func (c *wsConn) Close() error {
	c.g.mu.Lock()
	c.g.idle.Stop()
	c.g.start.Stop()
	c.g.mu.Unlock()
	return c.Conn.Close()
}

// wsHijacker hands the websocket library the guarded connection when it
// takes over the HTTP one.
type wsHijacker struct {
	http.ResponseWriter
	g *wsGuard
}

func (h *wsHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return h.g.hijacked(c), brw, nil
}
