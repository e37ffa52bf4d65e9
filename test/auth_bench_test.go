package test

import (
	"context"
	"testing"

	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/client"
	"github.com/selfhub/hub/test/testhub"
)

// BenchmarkAuthGRPC measures whole unary calls over loopback gRPC, side by
// side: a call that needs no credentials, and the same-sized calls
// authenticated by a session, a secure account key and a user token. The
// differences are what authentication costs a real request.
func BenchmarkAuthGRPC(b *testing.B) {
	h := testhub.Start(b, nil)
	w := newWorld(b, h)
	api := hubdpb.NewAPIServiceClient(h.Conn)
	threads := threadspb.NewAPIClient(h.Conn)
	// ListDBs of a principal with no DBs does little but authenticate.
	admitted := func(b *testing.B, err error) {
		if err != nil {
			b.Fatalf("not admitted: %v", err)
		}
	}
	// Contexts are signed once, as a client does for a run of calls.
	keyCtx := testhub.WithKey(b, w.devAcct)
	tokenCtx := client.WithToken(testhub.WithKey(b, w.devUser), w.devToken)
	cases := []struct {
		name string
		call func(b *testing.B)
	}{
		{"open", func(b *testing.B) {
			if _, err := api.BuildInfo(context.Background(), &hubdpb.BuildInfoRequest{}); err != nil {
				b.Fatal(err)
			}
		}},
		{"session", func(b *testing.B) {
			if _, err := api.GetSessionInfo(w.alice, &hubdpb.GetSessionInfoRequest{}); err != nil {
				b.Fatal(err)
			}
		}},
		{"secure-key", func(b *testing.B) {
			_, err := threads.ListDBs(keyCtx, &threadspb.ListDBsRequest{})
			admitted(b, err)
		}},
		{"token", func(b *testing.B) {
			_, err := threads.ListDBs(tokenCtx, &threadspb.ListDBsRequest{})
			admitted(b, err)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.call(b)
			}
		})
	}
}
