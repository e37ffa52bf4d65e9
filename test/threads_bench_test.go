package test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/selfhub/hub/api/pb/threadspb"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/internal/testhub"
	"github.com/selfhub/hub/threads"
)

// BenchmarkGRPCCreate: one durable Create per call over loopback gRPC, from
// one client and from many at once.
func BenchmarkGRPCCreate(b *testing.B) {
	h := testhub.Start(b, nil)
	ctx, _ := signup(b, hubclient.New(h.Conn), "bench")
	api := threadspb.NewAPIClient(h.Conn)
	id, _ := threads.NewID(threads.Raw)
	if _, err := api.NewDB(ctx, &threadspb.NewDBRequest{DbID: id.Bytes(), Collections: []*threadspb.CollectionConfig{{Name: "items"}}}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	call := func(b *testing.B) {
		i := n.Add(1)
		_, err := api.Create(ctx, &threadspb.CreateRequest{DbID: id.Bytes(), CollectionName: "items",
			Instances: [][]byte{[]byte(fmt.Sprintf(`{"n":%d}`, i))}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Run("one-client", func(b *testing.B) {
		for b.Loop() {
			call(b)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
	b.Run("16-clients", func(b *testing.B) {
		b.SetParallelism(8) // 8 × GOMAXPROCS(2) goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				call(b)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
}
