package server

import (
	"context"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/metering"
)

type principalKey struct{}

// principal returns the principal the interceptors settled for this call.
func principal(ctx context.Context) hub.Principal {
	p, _ := ctx.Value(principalKey{}).(hub.Principal)
	return p
}

// authenticate is the door every call passes: it reads the credentials from
// the metadata and settles the principal the call needs, by the method's
// requirement (Authenticated for methods the table does not name).
func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	req, ok := s.requirements[method]
	if !ok {
		req = auth.Authenticated
	}
	if req == auth.Open {
		return context.WithValue(ctx, principalKey{}, hub.Principal{}), nil
	}
	creds, err := auth.ParseCredentials(md.Get)
	if err != nil {
		return nil, err
	}
	p, err := s.auth.Authenticate(ctx, creds, req)
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

// unary authenticates, runs and observes a unary call, converting domain
// errors into gRPC statuses.
func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() { err = s.finish(ctx, info.FullMethod, start, recover(), err) }()
	ctx, err = s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	resp, err = handler(ctx, req)
	if m, ok := resp.(proto.Message); ok && err == nil {
		s.meter.Add(principal(ctx), metering.Counts{Egress: int64(proto.Size(m))})
	}
	return resp, err
}

// stream does for streaming calls what unary does: streams are
// authenticated like any other call (the original skipped them).
// A stream that acts as an org is also checked again whenever some access
// ends (auth's Revoked), and ends with PermissionDenied once its caller
// has left the org, the org is gone or its key no longer acts for it: a
// Listen opened as a member must not keep delivering after that.
func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() { err = s.finish(ss.Context(), info.FullMethod, start, recover(), err) }()
	revoked := s.auth.Revoked() // before the door, so no revocation slips between
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if p := principal(ctx); p.Kind == hub.OrgPrincipal {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go s.watchOrgAccess(ctx, cancel, p, revoked)
	}
	err = handler(srv, &contextStream{ServerStream: ss, ctx: ctx, meter: s.meter})
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return cause // cut off by watchOrgAccess
	}
	return err
}

// watchOrgAccess checks p's access to its org on every revocation until
// ctx ends, and cancels ctx with the reason when the access has ended.
func (s *Server) watchOrgAccess(ctx context.Context, cancel context.CancelCauseFunc, p hub.Principal, revoked <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-revoked:
		}
		revoked = s.auth.Revoked()
		if err := s.auth.OrgAccess(ctx, p); err != nil {
			cancel(err)
			return
		}
	}
}

// finish turns a panic into an Internal error, logs failures that are the
// server's fault, records metrics, and converts err to a gRPC status.
func (s *Server) finish(ctx context.Context, method string, start time.Time, panicked any, err error) error {
	if panicked != nil {
		s.log.Error("panic in handler", "method", method, "panic", panicked, "stack", string(debug.Stack()))
		err = errors.E(errors.Op(method), errors.Internal, "panic")
	}
	code := errors.Code(err)
	if code.String() == "Internal" || code.String() == "Unknown" {
		s.log.Error("call failed", "method", method, "err", err)
	} else if err != nil {
		s.log.Debug("call refused", "method", method, "code", code.String(), "err", err)
	}
	s.metrics.observe(method, code.String(), time.Since(start))
	return errors.ToStatus(err)
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
	if pm, ok := m.(proto.Message); ok {
		c.meter.Add(principal(c.ctx), metering.Counts{Egress: int64(proto.Size(pm))})
	}
	return nil
}
