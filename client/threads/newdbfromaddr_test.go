package threadsclient

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/threads"
)

// joinRecorder is a threads API server that records the NewDBFromAddr
// request it receives; hubd ignores the request's fields until it can
// replicate, so only a server like this one can tell that they are sent.
type joinRecorder struct {
	threadspb.UnimplementedAPIServer
	got chan *threadspb.NewDBFromAddrRequest
}

func (r *joinRecorder) NewDBFromAddr(_ context.Context, req *threadspb.NewDBFromAddrRequest) (*threadspb.NewDBReply, error) {
	r.got <- req
	return &threadspb.NewDBReply{}, nil
}

// TestNewDBFromAddrRequest checks that NewDBFromAddr fills every field of
// the wire's request from its arguments and returns the ID in the address.
func TestNewDBFromAddrRequest(t *testing.T) {
	rec := &joinRecorder{got: make(chan *threadspb.NewDBFromAddrRequest, 1)}
	srv := grpc.NewServer()
	threadspb.RegisterAPIServer(srv, rec)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	key, err := threads.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := threads.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	const host = "/ip4/127.0.0.1/tcp/4006/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	cc := CollectionConfig{Name: "people", Schema: []byte(`{"type":"object"}`), Indexes: []Index{{Path: "age", Unique: true}}}
	got, err := New(conn).NewDBFromAddr(context.Background(), host+"/thread/"+id.String(), key, JoinOptions{
		Name: "joined", Collections: []CollectionConfig{cc}, Block: true, ThreadKey: other, LogKey: logKey,
	})
	if err != nil || got != id {
		t.Fatalf("NewDBFromAddr = %q, %v; want %s", got, err, id)
	}
	req := <-rec.got
	marshalled, err := crypto.MarshalPrivateKey(logKey)
	if err != nil {
		t.Fatal(err)
	}
	want := &threadspb.NewDBFromAddrRequest{
		Addr:        threadAddr(t, host, id),
		Key:         key.Bytes(),
		Collections: []*threadspb.CollectionConfig{configToPB(cc)},
		Name:        "joined",
		Block:       true,
		ThreadKey:   other.Bytes(),
		LogKey:      marshalled,
	}
	if !proto.Equal(req, want) {
		t.Fatalf("server received %v; want %v", req, want)
	}

	// A public log key travels in its own marshalled form.
	if _, err := New(conn).NewDBFromAddr(context.Background(), host+"/thread/"+id.String(), key, JoinOptions{LogKey: logKey.GetPublic()}); err != nil {
		t.Fatal(err)
	}
	pub, err := crypto.MarshalPublicKey(logKey.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	if req := <-rec.got; !bytes.Equal(req.LogKey, pub) || req.ThreadKey != nil || req.Block {
		t.Fatalf("server received %v; want only the public log key besides address and key", req)
	}
}
