// Package client holds the plumbing shared by Hub's Go clients: dialing a
// hubd gRPC endpoint and attaching the request metadata (session, org, API
// key and signature, token, thread) that the server authenticates. The
// service clients live in subpackages: client/hub (accounts, orgs, keys),
// client/threads (tokens and ThreadDB) and client/users (mailboxes).
package client

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/selfhub/hub/errors"
)

// Dial returns a connection to the plain gRPC endpoint of hubd at addr
// (host:port). Transport security is off by default because hubd serves
// gRPC on loopback or behind the operator's own TLS terminator; pass
// grpc.WithTransportCredentials in opts to override it. Like grpc.NewClient,
// Dial does not connect: the first call does, and reports an Unavailable
// error if the server cannot be reached. ctx is accepted for symmetry with
// the other calls and for future use; the connection outlives it.
func Dial(ctx context.Context, addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	const op errors.Op = "client.Dial"
	if err := ctx.Err(); err != nil {
		return nil, errors.E(op, errors.Canceled, err)
	}
	if addr == "" {
		return nil, errors.E(op, errors.Invalid, "no hubd address given; pass host:port, such as 127.0.0.1:3006")
	}
	all := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(addr, all...)
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "cannot use hubd address %q: %v", addr, err)
	}
	return conn, nil
}
