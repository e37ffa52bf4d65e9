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

// grpcPrefix is the length prefix of a gRPC message.
const grpcPrefix = 5

// wsCharge is what a request byte that came by websocket costs, in bytes
// of the receive budget (see guard).
const wsCharge = 2

// Web returns an HTTP handler that serves the same services over gRPC-Web,
// with websockets for every call (the @textile clients' default) and CORS
// open to browsers, including the x-textile-* request headers.
//
// No message is larger than Limits.MaxMessageSize, and every call is
// guarded (see guard) until it is authenticated: it may send at most
// Limits.WebPreAuthBytes and must start within Limits.HandshakeTimeout.
// A websocket is guarded from the upgrade on, and is closed after
// Limits.WebIdleTimeout without a byte either way. Once a call runs, the
// guard keeps gRPC from reading more than Limits.WebWindow ahead of what
// the handler has consumed (see guard.room).
func (s *Server) Web() http.Handler {
	// Between gRPC-Web and gRPC, the request body is the call's stream of
	// length-prefixed messages: the window counts it there, in the same
	// bytes as gRPC reports each message consumed (see door.HandleRPC).
	toGRPC := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g, ok := r.Context().Value(guardKey{}).(*guard); ok {
			r.Body = &windowedBody{ReadCloser: r.Body, g: g}
		}
		s.grpc.ServeHTTP(w, r)
	})
	web := grpcweb.WrapHandler(toGRPC,
		grpcweb.WithEndpointsFunc(func() []string { return grpcweb.ListGRPCResources(s.grpc) }),
		grpcweb.WithOriginFunc(func(string) bool { return true }),
		grpcweb.WithWebsockets(true),
		grpcweb.WithWebsocketOriginFunc(func(*http.Request) bool { return true }),
		grpcweb.WithWebsocketPingInterval(wsPingInterval),
		grpcweb.WithAllowedRequestHeaders([]string{"*"}),
		grpcweb.WithWebsocketsMessageReadLimit(int64(s.limits.MaxMessageSize)+grpcWebOverhead),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g := newGuard(s.limits, newRecvAccount(s.recv, sourceOf(r.RemoteAddr)))
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

// callConsumed tells a gRPC-Web call's guard, if the call came by one,
// that its handler has taken a message of n bytes on the wire (length
// prefix included), which makes room in the window for n more.
func callConsumed(ctx context.Context, n int) {
	if g, ok := ctx.Value(guardKey{}).(*guard); ok {
		g.consumed(n)
	}
}

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
//
// The guard is also the call's flow control, which gRPC's HTTP handler
// transport lacks (it reads the body as fast as it comes, into a buffer
// without bound): gRPC may read at most window bytes of messages ahead of
// what the handler has consumed, and then waits. While it waits, hubd
// reads nothing from the websocket, so TCP pushes back on the client, and
// the idle timeout holds off for as long as the handler is busy (see
// idleOut).
//
// What gRPC holds of the call's messages ahead of the handler, and on a
// websocket what the websocket library holds of a message it has not
// finished reading (wsConn.Read), is charged to the hub's receive budget
// (acct): a call that finds no room in time is ended. The websocket
// library reads a message whole into a buffer it grows by copying
// (io.ReadAll), and keeps it until gRPC has copied all of it: a
// websocket's request bytes are charged twice over (wsCharge).
type guard struct {
	limits  Limits
	acct    *recvAccount
	wsIn    wsScanner     // the websocket's frames from the client; only its reader uses it
	window  int           // bytes gRPC may read ahead of the handler
	decided chan struct{} // closed when the call has started, or timed out
	wake    chan struct{} // signalled when the handler consumes
	over    chan struct{} // closed when the call is over

	mu      sync.Mutex
	authed  bool        // the call was authenticated; guarded by mu
	budget  int         // bytes left to read before authentication; guarded by mu
	ahead   int         // bytes read that the handler has not consumed; guarded by mu
	waiting bool        // gRPC waits for the handler; guarded by mu
	ws      bool        // the call came by websocket; guarded by mu
	writes  int         // writes to the websocket under way; guarded by mu
	ended   bool        // over is closed; guarded by mu
	start   *time.Timer // ends the call unless it starts in time; guarded by mu
	idle    *time.Timer // closes a websocket when nothing moves; guarded by mu
}

// newGuard returns the guard of a call. Its window is never smaller than
// a whole message with its length prefix, so that the message the handler
// waits for can always be read.
func newGuard(lim Limits, acct *recvAccount) *guard {
	return &guard{
		limits:  lim,
		acct:    acct,
		window:  max(lim.WebWindow, lim.MaxMessageSize+grpcPrefix),
		decided: make(chan struct{}),
		wake:    make(chan struct{}, 1),
		over:    make(chan struct{}),
		budget:  lim.WebPreAuthBytes,
	}
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

// stop stops the timers once the call is over, and releases gRPC's
// reader if it waits for room.
func (g *guard) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.ended {
		g.ended = true
		close(g.over)
	}
	if g.start != nil {
		g.start.Stop()
	}
	if g.idle != nil {
		g.idle.Stop()
	}
	g.acct.close()
}

// allow returns how many of n bytes may be read now: all once the call is
// authenticated, else what is left of the budget, waiting for the call to
// start when none is.
func (g *guard) allow(n int) (int, error) {
	const op errors.Op = "server.web"
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
		return 0, errors.Errorf(op, errors.Exhausted, "a gRPC-Web call may send %d bytes before it is authenticated (--web-preauth-bytes)", g.limits.WebPreAuthBytes)
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

// writing records that a write to the websocket begins (+1) or ends (-1).
func (g *guard) writing(d int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes += d
}

// idleOut returns what runs when the websocket's idle timer fires: it
// closes the websocket with end, unless hubd is the one that is slow.
// That is when gRPC waits for the handler to consume and the handler is
// not stuck writing to the client: a slow upload the handler is still
// taking (disk, hashing) is not idle, while a client that reads nothing
// (so that the handler waits to send, and so reads nothing more) is.
func (g *guard) idleOut(end func()) func() {
	return func() {
		g.mu.Lock()
		busy := g.waiting && g.writes == 0 && !g.ended
		if busy {
			g.idle.Reset(g.limits.WebIdleTimeout)
		}
		g.mu.Unlock()
		if !busy {
			end()
		}
	}
}

// room returns how many of n bytes gRPC may read now: what is left of the
// window, waiting for the handler to consume when nothing is. The wait
// ends when the call is over. (No pings are answered meanwhile: the
// websocket library reads control frames only when it reads, and the
// client's pong waits in the socket until reading resumes.)
func (g *guard) room(n int) (int, error) {
	const op errors.Op = "server.web"
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.ahead >= g.window {
		if g.ended {
			return 0, errors.E(op, errors.Canceled, "the call is over")
		}
		g.waiting = true
		g.mu.Unlock()
		select {
		case <-g.wake:
		case <-g.over:
		}
		g.mu.Lock()
		g.waiting = false
	}
	return min(n, g.window-g.ahead), nil
}

// handed records n bytes given to gRPC, which fill the window, and holds
// them in the receive budget, waiting for room, unless they came by
// websocket (held as they arrived, see wsConn.Read).
func (g *guard) handed(n int) error {
	g.mu.Lock()
	g.ahead += n
	ws := g.ws
	g.mu.Unlock()
	if !ws && n > 0 && !g.acct.add(int64(n)) {
		return errNoRoom()
	}
	return nil
}

// errNoRoom is why a gRPC-Web call that waited too long for room in the
// receive budget ends.
func errNoRoom() error {
	const op errors.Op = "server.web"
	return errors.E(op, errors.Exhausted, "hubd's memory for incoming messages is full (--max-receive-memory, --max-receive-memory-per-ip); this call waited too long for room: send whole messages, fewer at once")
}

// consumed records that the handler took n bytes of messages, which frees
// as much of the window.
func (g *guard) consumed(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ahead = max(g.ahead-n, 0)
	if g.ws {
		g.acct.remove(wsCharge * int64(n))
	} else {
		g.acct.remove(int64(n))
	}
	select {
	case g.wake <- struct{}{}:
	default:
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

// windowedBody is a call's stream of messages, as gRPC reads it, under the
// guard's window.
type windowedBody struct {
	io.ReadCloser
	g *guard
}

func (b *windowedBody) Read(p []byte) (int, error) {
	n, err := b.g.room(len(p))
	if err != nil {
		return 0, err
	}
	n, err = b.ReadCloser.Read(p[:n])
	if herr := b.g.handed(n); herr != nil {
		return 0, herr
	}
	return n, err
}

// Close ends the call's window: gRPC closes the body when the call is
// over, and then waits for its reader to return.
func (b *windowedBody) Close() error {
	b.g.stop()
	return b.ReadCloser.Close()
}

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
	if k := c.g.wsIn.scan(p[:n]); k > 0 && !c.g.acct.add(wsCharge*k) {
		c.Conn.Close()
		return 0, errNoRoom()
	}
	return n, err
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.g.writing(1)
	defer c.g.writing(-1)
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
	h.g.ws = true
	h.g.idle = time.AfterFunc(h.g.limits.WebIdleTimeout, h.g.idleOut(func() { c.Close() }))
	h.g.mu.Unlock()
	return &wsConn{Conn: c, g: h.g}, brw, nil
}
