// Package hubclient is the Go client of hubd's account API
// (api.hubd.pb.APIService): sign-up and sessions, API keys and orgs. It
// speaks plain gRPC and returns the domain types of package hub, never
// protobuf.
//
// Credentials travel in the context, attached with the helpers of package
// client: most calls need client.WithSession, and org calls client.WithOrg
// as well. Every error that comes back from the server carries its kind, so
// callers can test it with errors.Is(errors.NotExist, err) and show the
// server's message with errors.Message.
package hubclient

import (
	"context"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/rpcerr"
)

// Client calls hubd's account API over one gRPC connection. It is safe for
// concurrent use.
type Client struct {
	c hubdpb.APIServiceClient
}

// New returns a Client that calls the server at the other end of conn,
// typically a *grpc.ClientConn from client.Dial. The caller closes conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{c: hubdpb.NewAPIServiceClient(conn)}
}

// BuildInfo describes the build of a running hubd.
type BuildInfo struct {
	Version    string
	GitCommit  string
	GitBranch  string
	GitState   string // "clean" or "dirty"
	GitSummary string
	BuildDate  string
}

// Session is a developer session opened by Signup or Signin: the account's
// public key and the session ID to pass to client.WithSession.
type Session struct {
	Key hub.PubKey
	ID  string
}

// SessionInfo describes the developer a session belongs to.
type SessionInfo struct {
	Key      hub.PubKey
	Username string
	Email    string
}

// BuildInfo returns the build of the server. It needs no credentials.
func (c *Client) BuildInfo(ctx context.Context) (BuildInfo, error) {
	const op errors.Op = "hubclient.BuildInfo"
	r, err := c.c.BuildInfo(ctx, &hubdpb.BuildInfoRequest{})
	if err != nil {
		return BuildInfo{}, rpcerr.FromStatus(op, err)
	}
	return BuildInfo{
		Version:    r.GetVersion(),
		GitCommit:  r.GetGitCommit(),
		GitBranch:  r.GetGitBranch(),
		GitState:   r.GetGitState(),
		GitSummary: r.GetGitSummary(),
		BuildDate:  r.GetBuildDate(),
	}, nil
}

// Signup creates a developer account and opens a session for it. The
// server may hold the call open until the address is confirmed, so ctx
// should allow for a person reading an email.
func (c *Client) Signup(ctx context.Context, username, email string) (Session, error) {
	const op errors.Op = "hubclient.Signup"
	r, err := c.c.Signup(ctx, &hubdpb.SignupRequest{Username: username, Email: email})
	if err != nil {
		return Session{}, rpcerr.FromStatus(op, err)
	}
	return session(op, r.GetKey(), r.GetSession())
}

// Signin opens a session for an existing developer, named by username or
// email. Like Signup, the server may wait for an emailed confirmation.
func (c *Client) Signin(ctx context.Context, usernameOrEmail string) (Session, error) {
	const op errors.Op = "hubclient.Signin"
	r, err := c.c.Signin(ctx, &hubdpb.SigninRequest{UsernameOrEmail: usernameOrEmail})
	if err != nil {
		return Session{}, rpcerr.FromStatus(op, err)
	}
	return session(op, r.GetKey(), r.GetSession())
}

func session(op errors.Op, key []byte, id string) (Session, error) {
	pk, err := pubKey(op, key)
	if err != nil {
		return Session{}, err
	}
	return Session{Key: pk, ID: id}, nil
}

// Signout ends the session in ctx.
func (c *Client) Signout(ctx context.Context) error {
	const op errors.Op = "hubclient.Signout"
	if _, err := c.c.Signout(ctx, &hubdpb.SignoutRequest{}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// SessionInfo describes the developer whose session is in ctx.
func (c *Client) SessionInfo(ctx context.Context) (SessionInfo, error) {
	const op errors.Op = "hubclient.SessionInfo"
	r, err := c.c.GetSessionInfo(ctx, &hubdpb.GetSessionInfoRequest{})
	if err != nil {
		return SessionInfo{}, rpcerr.FromStatus(op, err)
	}
	pk, err := pubKey(op, r.GetKey())
	if err != nil {
		return SessionInfo{}, err
	}
	return SessionInfo{Key: pk, Username: r.GetUsername(), Email: r.GetEmail()}, nil
}

// Identity returns the private key of the account the call acts as (the
// developer, or the org named in ctx).
func (c *Client) Identity(ctx context.Context) (crypto.PrivKey, error) {
	const op errors.Op = "hubclient.Identity"
	r, err := c.c.GetIdentity(ctx, &hubdpb.GetIdentityRequest{})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	priv, err := crypto.UnmarshalPrivateKey(r.GetIdentity())
	if err != nil {
		return nil, errors.Errorf(op, errors.Internal, "server sent an identity that is not a libp2p private key: %v", err)
	}
	return priv, nil
}

// IsUsernameAvailable returns nil if name is free to sign up with, and an
// error (usually of kind Exist or Invalid) saying why not otherwise.
func (c *Client) IsUsernameAvailable(ctx context.Context, name string) error {
	const op errors.Op = "hubclient.IsUsernameAvailable"
	if _, err := c.c.IsUsernameAvailable(ctx, &hubdpb.IsUsernameAvailableRequest{Username: name}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// DestroyAccount deletes the developer whose session is in ctx, with
// everything the account owns.
func (c *Client) DestroyAccount(ctx context.Context) error {
	const op errors.Op = "hubclient.DestroyAccount"
	if _, err := c.c.DestroyAccount(ctx, &hubdpb.DestroyAccountRequest{}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// pubKey converts a libp2p-marshalled public key from a response. A bad key
// is the server's fault, so it is an Internal error.
func pubKey(op errors.Op, b []byte) (hub.PubKey, error) {
	pk, err := identity.FromBytes(b)
	if err != nil {
		return "", errors.Errorf(op, errors.Internal, "server sent a malformed public key: %v", errors.Message(err))
	}
	return pk, nil
}
