package server

import (
	"log/slog"
	"net"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/selfhub/hub/api/pb/usersdpb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/client"
	"github.com/selfhub/hub/email"
	"github.com/selfhub/hub/metering"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/logstore"
)

// TestUsageWithoutBuckets serves a hub with no bucket service (Services
// says it is optional) on loopback and asks for a developer's usage: the
// report says no bucket bytes instead of the server panicking.
func TestUsageWithoutBuckets(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	host, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	authSvc, err := auth.New(auth.Config{Dev: true}, st, email.Log{Logger: log}, host)
	if err != nil {
		t.Fatal(err)
	}
	meter := metering.New(st)
	t.Cleanup(func() { meter.Close() })
	dbs := db.NewManager(db.Config{Count: meter.CountInstances}, st, logstore.NewStore(st))
	srv, err := New(Services{Auth: authSvc, DBs: dbs, Meter: meter,
		Usage: metering.NewReporter(meter, metering.Sources{Users: authSvc.Users, Instances: dbs.StoredBytes})},
		Limits{MaxMessageSize: DefaultMaxMessageSize, MaxStreamsPerConn: DefaultMaxStreamsPerConn,
			MaxStreamsPerPrincipal: DefaultMaxStreamsPerPrincipal, MaxStreamsPerAccount: DefaultMaxStreamsPerAccount,
			IdleTimeout: DefaultIdleTimeout, HandshakeTimeout: DefaultHandshakeTimeout},
		log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.GRPC().Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })

	ctx := t.Context()
	_, sess, err := authSvc.Signup(ctx, "nobuckets", "nobuckets@example.com")
	if err != nil {
		t.Fatal(err)
	}
	res, err := pb.NewAPIServiceClient(conn).GetUsage(client.WithSession(ctx, sess.ID), &pb.GetUsageRequest{})
	if err != nil {
		t.Fatalf("GetUsage on a hub without buckets: %v", err)
	}
	u := res.GetUsage().GetUsage()
	if b, ok := u["bucket_data"]; !ok || b.Units != 0 {
		t.Fatalf("bucket_data = %v; want 0 bytes on a hub without buckets", b)
	}
	if _, ok := u["stored_data"]; !ok {
		t.Fatalf("report %v lacks stored_data", u)
	}
}
