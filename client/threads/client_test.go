package threadsclient_test

import (
	"context"
	"crypto/rand"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
)

// fake runs the server side of GetToken as PROTOCOL.md describes it and
// issues "token-for-<pubkey>" when the signature verifies.
type fake struct {
	threadspb.UnimplementedAPIServer
}

func (fake) GetToken(stream grpc.BidiStreamingServer[threadspb.GetTokenRequest, threadspb.GetTokenReply]) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	if k := md.Get("x-textile-api-key"); len(k) != 1 || k[0] != "bkey" {
		return status.Error(codes.Unauthenticated, "an API key is required")
	}
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	key := req.GetKey()
	pub, err := identity.Parse(hub.PubKey(key))
	if err != nil {
		return status.Error(codes.InvalidArgument, "bad key")
	}
	challenge := make([]byte, 32)
	rand.Read(challenge)
	if err := stream.Send(&threadspb.GetTokenReply{Payload: &threadspb.GetTokenReply_Challenge{Challenge: challenge}}); err != nil {
		return err
	}
	req, err = stream.Recv()
	if err != nil {
		return err
	}
	if ok, err := pub.Verify(challenge, req.GetSignature()); err != nil || !ok {
		return status.Error(codes.Unauthenticated, "bad signature")
	}
	return stream.Send(&threadspb.GetTokenReply{Payload: &threadspb.GetTokenReply_Token{Token: "token-for-" + key}})
}

func newClient(t *testing.T) *threadsclient.Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	threadspb.RegisterAPIServer(srv, fake{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := client.Dial(context.Background(), "passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return threadsclient.New(conn)
}

func TestGetToken(t *testing.T) {
	c := newClient(t)
	priv, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := client.WithAPIKey(context.Background(), "bkey", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.GetToken(ctx, priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := identity.String(priv.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	if want := "token-for-" + string(pub); tok != want {
		t.Errorf("token = %q, want %q", tok, want)
	}
}

func TestGetTokenErrors(t *testing.T) {
	c := newClient(t)
	priv, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetToken(context.Background(), priv)
	if !errors.Is(errors.Unauthenticated, err) || errors.Message(err) != "an API key is required" {
		t.Errorf("GetToken without an API key = %v, want Unauthenticated: an API key is required", err)
	}
	if _, err := c.GetToken(context.Background(), nil); !errors.Is(errors.Invalid, err) {
		t.Errorf("GetToken(nil) = %v, want Invalid", err)
	}
}
