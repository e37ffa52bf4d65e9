package errors

import (
	"context"
	stderrors "errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcCodes is the one table that maps error kinds to gRPC status codes.
var grpcCodes = map[Kind]codes.Code{
	Other:              codes.Internal,
	Invalid:            codes.InvalidArgument,
	NotExist:           codes.NotFound,
	Exist:              codes.AlreadyExists,
	Permission:         codes.PermissionDenied,
	Unauthenticated:    codes.Unauthenticated,
	FailedPrecondition: codes.FailedPrecondition,
	Exhausted:          codes.ResourceExhausted,
	Unimplemented:      codes.Unimplemented,
	Internal:           codes.Internal,
	Unavailable:        codes.Unavailable,
	Canceled:           codes.Canceled,
	DeadlineExceeded:   codes.DeadlineExceeded,
	DataLoss:           codes.DataLoss,
}

// Code returns the gRPC code for err.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if _, ok := status.FromError(err); ok && KindOf(err) == Other {
		return status.Code(err)
	}
	if stderrors.Is(err, context.Canceled) {
		return codes.Canceled
	}
	if stderrors.Is(err, context.DeadlineExceeded) {
		return codes.DeadlineExceeded
	}
	return grpcCodes[KindOf(err)]
}

// ToStatus converts err into a gRPC status error for the wire. The message
// is the user-facing message; internal errors keep their detail out of it.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && KindOf(err) == Other {
		return s.Err()
	}
	code := Code(err)
	msg := Message(err)
	if code == codes.Internal {
		msg = "internal error"
	}
	return status.Error(code, msg)
}

// FromStatus converts a gRPC status error from the wire back into an *Error
// with the matching kind, so clients can test kinds with Is.
func FromStatus(op Op, err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return E(op, err)
	}
	kind := Other
	for k, c := range grpcCodes {
		if c == s.Code() && k != Other {
			kind = k
			break
		}
	}
	if s.Code() == codes.Internal {
		kind = Internal
	}
	return E(op, kind, s.Message())
}
