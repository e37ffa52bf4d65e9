// Package rpcerr is the edge between Hub's errors and gRPC: one table maps
// each error kind to its gRPC status code, used both ways, by the server
// (api/server) to answer and by the Go clients (client/...) to turn a status
// back into a kind. Keeping the table here, not in package errors, keeps
// the transport out of the core: errors, threads and the services import no
// gRPC, so an app that embeds them does not either.
package rpcerr

import (
	"context"
	stderrors "errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/selfhub/hub/errors"
)

// codeOf is the one table that maps error kinds to gRPC status codes.
// Other (an unclassified error) goes on the wire as Internal.
var codeOf = map[errors.Kind]codes.Code{
	errors.Other:              codes.Internal,
	errors.Invalid:            codes.InvalidArgument,
	errors.NotExist:           codes.NotFound,
	errors.Exist:              codes.AlreadyExists,
	errors.Permission:         codes.PermissionDenied,
	errors.Unauthenticated:    codes.Unauthenticated,
	errors.FailedPrecondition: codes.FailedPrecondition,
	errors.Exhausted:          codes.ResourceExhausted,
	errors.Unimplemented:      codes.Unimplemented,
	errors.Internal:           codes.Internal,
	errors.Unavailable:        codes.Unavailable,
	errors.Canceled:           codes.Canceled,
	errors.DeadlineExceeded:   codes.DeadlineExceeded,
	errors.DataLoss:           codes.DataLoss,
}

// kindOf is codeOf read backwards; Internal comes back as Internal, not
// Other.
var kindOf = func() map[codes.Code]errors.Kind {
	m := map[codes.Code]errors.Kind{}
	for k, c := range codeOf {
		if k != errors.Other {
			m[c] = k
		}
	}
	return m
}()

// Code returns the gRPC code for err. A gRPC status error that carries no
// kind keeps its code; context cancellation and deadlines keep theirs.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	if _, ok := status.FromError(err); ok && errors.KindOf(err) == errors.Other {
		return status.Code(err)
	}
	if stderrors.Is(err, context.Canceled) {
		return codes.Canceled
	}
	if stderrors.Is(err, context.DeadlineExceeded) {
		return codes.DeadlineExceeded
	}
	return codeOf[errors.KindOf(err)]
}

// ToStatus converts err into a gRPC status error for the wire. The message
// is the user-facing message (errors.Message); internal errors keep their
// detail out of it, in the server's log.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && errors.KindOf(err) == errors.Other {
		return s.Err()
	}
	code := Code(err)
	msg := errors.Message(err)
	if code == codes.Internal {
		msg = "internal error"
	}
	return status.Error(code, msg)
}

// FromStatus converts a gRPC status error from the wire back into an
// *errors.Error with the matching kind and the status's message, so
// clients test kinds with errors.Is as in process.
func FromStatus(op errors.Op, err error) error {
	if err == nil {
		return nil
	}
	s, ok := status.FromError(err)
	if !ok {
		return errors.E(op, err)
	}
	return errors.E(op, kindOf[s.Code()], s.Message())
}
