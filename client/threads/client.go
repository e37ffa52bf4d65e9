// Package threadsclient is the Go client of hubd's threads API
// (threads.pb.API), with the reach of the JavaScript client: GetToken, the
// challenge-response that turns an end-user's Ed25519 key into the bearer
// token user group API keys need (client.WithToken); DBs and their
// collections; instances (create, save, delete, has, find, verify); read and
// write transactions; and Listen, which Hub makes resumable.
//
// Credentials travel in the context, attached with the helpers of package
// client: a session (and org), an API key and signature, and for a user
// group key the user's token; or UserAuth attaches them to every call of a
// connection and renews the token. Each caller sees only its own DBs: another
// identity's DB is NotExist, as is one that does not exist. Errors from the
// server carry their kind (errors.Is) and the server's message
// (errors.Message); an error a transaction reports inside a reply
// (transactionError) carries only the message, so its kind is Other.
//
// Instances travel as JSON objects (json.RawMessage); queries are
// *query.Query values from package threads/db/query, or their JSON form.
package threadsclient

import (
	"context"
	"io"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc"

	"github.com/selfhub/hub/api/pb/hubthreadspb"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/rpcerr"
)

// Client calls hubd's threads API over one gRPC connection. It is safe for
// concurrent use.
type Client struct {
	c   threadspb.APIClient
	acl hubthreadspb.APIServiceClient // Hub's extensions: access control (acl.go)
}

// New returns a Client that calls the server at the other end of conn,
// typically a *grpc.ClientConn from client.Dial. The caller closes conn.
func New(conn grpc.ClientConnInterface) *Client {
	return &Client{c: threadspb.NewAPIClient(conn), acl: hubthreadspb.NewAPIServiceClient(conn)}
}

// GetToken proves to the server that the caller holds priv and returns the
// identity token for its public key. ctx carries the API key (and, for a
// secure key, its signature) of the app the user belongs to. The exchange:
// send the public key, receive a challenge, send the Ed25519 signature of
// the challenge, receive the token.
func (c *Client) GetToken(ctx context.Context, priv crypto.PrivKey) (string, error) {
	const op errors.Op = "threadsclient.GetToken"
	if priv == nil {
		return "", errors.E(op, errors.Invalid, "no private key given")
	}
	pub, err := identity.String(priv.GetPublic())
	if err != nil {
		return "", errors.E(op, err)
	}
	// Cancelling the stream's context on return releases it whatever
	// state the exchange stopped in.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.c.GetToken(ctx)
	if err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	if err := send(stream, &threadspb.GetTokenRequest{Payload: &threadspb.GetTokenRequest_Key{Key: string(pub)}}); err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	reply, err := stream.Recv()
	if err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	challenge, ok := reply.GetPayload().(*threadspb.GetTokenReply_Challenge)
	if !ok {
		return "", errors.Errorf(op, errors.Internal, "server sent %T, want a challenge", reply.GetPayload())
	}
	sig, err := priv.Sign(challenge.Challenge)
	if err != nil {
		return "", errors.E(op, errors.Invalid, err)
	}
	if err := send(stream, &threadspb.GetTokenRequest{Payload: &threadspb.GetTokenRequest_Signature{Signature: sig}}); err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	reply, err = stream.Recv()
	if err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	token, ok := reply.GetPayload().(*threadspb.GetTokenReply_Token)
	if !ok {
		return "", errors.Errorf(op, errors.Internal, "server sent %T, want a token", reply.GetPayload())
	}
	if err := stream.CloseSend(); err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	return token.Token, nil
}

// send sends m on stream. When the server has already ended the stream,
// Send reports only io.EOF; the status the server ended it with comes from
// Recv, so send returns that instead.
func send(stream threadspb.API_GetTokenClient, m *threadspb.GetTokenRequest) error {
	err := stream.Send(m)
	if err != io.EOF {
		return err
	}
	if _, err := stream.Recv(); err != nil && err != io.EOF {
		return err
	}
	return errors.E(errors.Unavailable, "server closed the token stream early")
}
