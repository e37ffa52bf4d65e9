package server

import (
	"bufio"
	"context"
	"io"
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
// No message is larger than Limits.MaxMessageSize, and every call is
// guarded (see guard) until it is authenticated: it may send at most
// Limits.WebPreAuthBytes and must start within Limits.HandshakeTimeout.
// A websocket is guarded from the upgrade on, and is closed after
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
		g := newGuard(s.limits)
		defer g.stop()
		ctx := context.WithValue(r.Context(), guardKey{}, g)
		if web.IsGrpcWebSocketRequest(r) {
			web.ServeHTTP(&wsHijacker{ResponseWriter: w, g: g}, r.WithContext(ctx))
			return
		}
		// Plain gRPC-Web carries one request message: its body is never
		// larger than the largest message.
		body := http.MaxBytesReader(w, r.Body, int64(s.limits.MaxMessageSize)+grpcWebOverhead)
		r.Body = &guardedBody{ReadCloser: body, g: g}
		g.timeout(func() {})
		web.ServeHTTP(w, r.WithContext(ctx))
	})
}

type guardKey struct{}

// callStarted tells a gRPC-Web call's guard, if the call came by one,
// that the call has started, authenticated or not (an Open method).
func callStarted(ctx context.Context, authenticated bool) {
	if g, ok := ctx.Value(guardKey{}).(*guard); ok {
		g.started(authenticated)
	}
}

// guard limits what one gRPC-Web call may send before it is
// authenticated. gRPC-Web reads a call's body (or websocket messages)
// eagerly, before gRPC has authenticated the call, so the guard works
// below it, on bytes: before the call is authenticated, at most
// WebPreAuthBytes are read (enough for the header message with the
// credentials, and a unary request of that size); past them, reading
// waits until the call has started, and goes on only if it was
// authenticated. A call that has not started by HandshakeTimeout is
// ended; a websocket idle for WebIdleTimeout is closed.
type guard struct {
	limits  Limits
	decided chan struct{} // closed when the call has started, or timed out

	mu     sync.Mutex
	authed bool        // the call was authenticated; guarded by mu
	budget int         // bytes left to read before authentication; guarded by mu
	start  *time.Timer // ends the call unless it starts in time; guarded by mu
	idle   *time.Timer // closes a websocket when nothing moves; guarded by mu
}

func newGuard(lim Limits) *guard {
	return &guard{limits: lim, decided: make(chan struct{}), budget: lim.WebPreAuthBytes}
}

// timeout arms the start timer: unless the call starts in time, end runs
// and the guard refuses to read more.
func (g *guard) timeout(end func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.start = time.AfterFunc(g.limits.HandshakeTimeout, func() {
		end()
		g.started(false)
	})
}

// started records that the call has started: the bytes it reads are no
// longer limited if it was authenticated.
func (g *guard) started(authenticated bool) {
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

// stop stops the timers once the call is over.
func (g *guard) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.start != nil {
		g.start.Stop()
	}
	if g.idle != nil {
		g.idle.Stop()
	}
}

// allow returns how many of n bytes may be read now: all once the call is
// authenticated, else what is left of the budget, waiting for the call to
// start when none is.
func (g *guard) allow(n int) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.authed {
		return n, nil
	}
	if g.budget > 0 {
		return min(n, g.budget), nil
	}
	g.mu.Unlock()
	<-g.decided
	g.mu.Lock()
	if !g.authed {
		return 0, errors.Errorf("server.web", errors.Exhausted, "a gRPC-Web call may send %d bytes before it is authenticated (--web-preauth-bytes)", g.limits.WebPreAuthBytes)
	}
	return n, nil
}

// moved records n bytes read (counted against the budget) or written, and
// puts off the idle timeout.
func (g *guard) moved(n int, read bool) {
	if n <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if read && !g.authed {
		g.budget -= n
	}
	if g.idle != nil {
		g.idle.Reset(g.limits.WebIdleTimeout)
	}
}

// read reads from r what the guard allows into p.
func (g *guard) read(r io.Reader, p []byte) (int, error) {
	n, err := g.allow(len(p))
	if err != nil {
		return 0, err
	}
	n, err = r.Read(p[:n])
	g.moved(n, true)
	return n, err
}

// guardedBody is a plain gRPC-Web request body under its guard.
type guardedBody struct {
	io.ReadCloser
	g *guard
}

func (b *guardedBody) Read(p []byte) (int, error) { return b.g.read(b.ReadCloser, p) }

// wsConn is a websocket's connection under its guard.
type wsConn struct {
	net.Conn
	g *guard
}

func (c *wsConn) Read(p []byte) (int, error) {
	n, err := c.g.read(c.Conn, p)
	if err != nil && n == 0 && errors.Is(errors.Exhausted, err) {
		c.Conn.Close()
	}
	return n, err
}

func (c *wsConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.g.moved(n, false)
	return n, err
}

func (c *wsConn) Close() error {
	c.g.stop()
	return c.Conn.Close()
}

// wsHijacker hands the websocket library the guarded connection when it
// takes over the HTTP one, and arms the guard's timers on it.
type wsHijacker struct {
	http.ResponseWriter
	g *guard
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
	h.g.timeout(func() { c.Close() })
	h.g.mu.Lock()
	h.g.idle = time.AfterFunc(h.g.limits.WebIdleTimeout, func() { c.Close() })
	h.g.mu.Unlock()
	return &wsConn{Conn: c, g: h.g}, brw, nil
}
