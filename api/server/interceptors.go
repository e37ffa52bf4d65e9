package server

import (
	"context"
	"net"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/proto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/metering"
)

// settledKey keys the door's decision about a call in its context.
type settledKey struct{}

// settled is the door's decision: the principal the call acts as, or why
// it was refused.
type settled struct {
	p   hub.Principal
	err error
	// epoch is the streams' revocation count when the door began, so
	// that a stream learns of a revocation that crossed its
	// authentication.
	epoch uint64
}

// principal returns the principal the door settled for this call.
func principal(ctx context.Context) hub.Principal {
	st, _ := ctx.Value(settledKey{}).(settled)
	return st.p
}

// settledAt returns the revocation epoch at which the door settled this
// call.
func settledAt(ctx context.Context) uint64 {
	st, _ := ctx.Value(settledKey{}).(settled)
	return st.epoch
}

// refused returns why the door refused this call, if it did.
func refused(ctx context.Context, method string) error {
	st, ok := ctx.Value(settledKey{}).(settled)
	if !ok {
		return errors.Errorf(errors.Op(method), errors.Internal, "call was not authenticated")
	}
	return st.err
}

// door is the gRPC stats handler that authenticates every call when its
// headers arrive: before gRPC reads a request message, so that a caller
// who is not who it claims makes hubd read no more than the headers (and
// the websocket guard, see Server.Web, learns when to lift its limit).
// The interceptors act on its decision.
type door struct{ s *Server }

func (d door) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	epoch := d.s.streams.epoch()
	p, err := d.s.authenticate(ctx, info.FullMethodName)
	callStarted(ctx, err == nil && p.Kind != hub.Anonymous)
	return context.WithValue(ctx, settledKey{}, settled{p: p, err: err, epoch: epoch})
}

// HandleRPC tells a gRPC-Web call's guard each time the handler takes a
// request message, with the message's size on the wire, which is what
// the guard's window counts. (A wrapper around RecvMsg would see only the
// decoded message, whose size can differ, and not unary requests.)
func (door) HandleRPC(ctx context.Context, st stats.RPCStats) {
	if in, ok := st.(*stats.InPayload); ok {
		callConsumed(ctx, in.WireLength)
	}
}

func (door) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (door) HandleConn(context.Context, stats.ConnStats)                       {}

// authenticate reads the credentials from the metadata and settles the
// principal the call needs, by the method's requirement. The table names
// every served method (checkRequirements); a call to a method no service
// serves needs an authenticated principal before gRPC answers
// Unimplemented.
func (s *Server) authenticate(ctx context.Context, method string) (hub.Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	req, ok := s.requirements[method]
	if !ok {
		req = auth.Authenticated
	}
	if req == auth.Open {
		return hub.Principal{}, nil
	}
	creds, err := auth.ParseCredentials(md.Get)
	if err != nil {
		return hub.Principal{}, err
	}
	return s.auth.Authenticate(ctx, creds, req)
}

// unary runs and observes a unary call the door let in, converting domain
// errors into gRPC statuses.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() { err = s.finish(ctx, info.FullMethod, start, recover(), err) }()
	if err := refused(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	resp, err = handler(ctx, req)
	if m, ok := resp.(proto.Message); ok && err == nil {
		s.meter.Add(principal(ctx), metering.Counts{Egress: int64(proto.Size(m))})
	}
	return resp, err
}

// stream does for streaming calls what unary does, and more: a
// principal's open streams are counted against the caps, and end as soon
// as its access is revoked (see streams.revoke), even while the handler
// waits on the client: a Listen must not keep delivering, nor a write
// transaction commit, after its key, session, account or org membership
// has ended.
func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() { err = s.finish(ss.Context(), info.FullMethod, start, recover(), err) }()
	if err := refused(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	p := principal(ss.Context())
	if p.Kind == hub.Anonymous {
		return handler(srv, &contextStream{ServerStream: ss, ctx: ss.Context(), meter: s.meter})
	}
	ctx, cancel := context.WithCancelCause(ss.Context())
	defer cancel(nil)
	register := s.streams.add
	// A sign-in (the only call that needs an API key and no token) proves
	// an identity it does not have yet: it is bounded by where it comes
	// from, not by the app's streams (see signins).
	if s.requirements[info.FullMethod] == auth.APIKeyOnly {
		var from net.Addr
		if pr, ok := peer.FromContext(ss.Context()); ok {
			from = pr.Addr
		}
		done, err := s.signins.admit(from)
		if err != nil {
			return err
		}
		defer done()
		register = s.streams.watch
	}
	unregister, err := register(p, settledAt(ss.Context()), cancel)
	if err != nil {
		return err
	}
	// The handler runs on its own goroutine, so that a revocation ends the
	// call even while the handler is blocked in Recv or Send: once this
	// returns, gRPC ends the stream, and those fail.
	ended := make(chan error, 1)
	go func() {
		defer unregister()
		defer func() {
			if v := recover(); v != nil {
				ended <- s.panicError(info.FullMethod, v)
			}
		}()
		ended <- handler(srv, &contextStream{ServerStream: ss, ctx: ctx, meter: s.meter})
	}()
	select {
	case err := <-ended:
		return err
	case <-ctx.Done():
		if cause := context.Cause(ctx); cause != ctx.Err() {
			return cause // revoked
		}
		return <-ended // the client went away: let the handler finish
	}
}

// finish turns a panic into an Internal error, logs failures that are the
// server's fault, records metrics, and converts err to a gRPC status.
func (s *Server) finish(ctx context.Context, method string, start time.Time, panicked any, err error) error {
	if panicked != nil {
		err = s.panicError(method, panicked)
	}
	code := rpcerr.Code(err)
	if code.String() == "Internal" || code.String() == "Unknown" {
		s.log.Error("call failed", "method", method, "err", err)
	} else if err != nil {
		s.log.Debug("call refused", "method", method, "code", code.String(), "err", err)
	}
	s.metrics.observe(method, code.String(), time.Since(start))
	return rpcerr.ToStatus(err)
}

// panicError logs a handler's panic with its stack and returns the error
// the caller gets.
func (s *Server) panicError(method string, v any) error {
	s.log.Error("panic in handler", "method", method, "panic", v, "stack", string(debug.Stack()))
	return errors.E(errors.Op(method), errors.Internal, "panic")
}

// contextStream carries the authenticated context into a stream handler
// and counts what the stream sends as the principal's egress.
type contextStream struct {
	grpc.ServerStream
	ctx   context.Context
	meter *metering.Meter
}

func (c *contextStream) Context() context.Context { return c.ctx }

func (c *contextStream) SendMsg(m any) error {
	if err := c.ServerStream.SendMsg(m); err != nil {
		return err
	}
	switch m := m.(type) {
	case proto.Message:
		c.meter.Add(principal(c.ctx), metering.Counts{Egress: int64(proto.Size(m))})
	case encoded:
		c.meter.Add(principal(c.ctx), metering.Counts{Egress: int64(len(m))})
	}
	return nil
}
