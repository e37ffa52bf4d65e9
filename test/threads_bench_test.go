package test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfhub/hub/api/pb/threadspb"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// Benchmarks of ThreadDB over loopback gRPC against a real hub, the
// counterparts of the in-process ones in threads/db/bench_test.go: the same
// data, queries and metrics, so the two can be read side by side and the
// difference is the cost of the API.

// benchDB starts a hub, signs up a developer and makes a DB holding cols;
// it returns the developer's context, the threads API and the DB's ID.
func benchDB(b *testing.B, cols ...*threadspb.CollectionConfig) (context.Context, threadspb.APIClient, []byte) {
	b.Helper()
	h := testhub.Start(b, nil)
	ctx, _ := signup(b, hubclient.New(h.Conn), "bench")
	api := threadspb.NewAPIClient(h.Conn)
	id, _ := threads.NewID(threads.Raw)
	if _, err := api.NewDB(ctx, &threadspb.NewDBRequest{DbID: id.Bytes(), Collections: cols}); err != nil {
		b.Fatal(err)
	}
	return ctx, api, id.Bytes()
}

// BenchmarkGRPCCreate: one durable Create per call over loopback gRPC, from
// one client and from many at once.
func BenchmarkGRPCCreate(b *testing.B) {
	ctx, api, id := benchDB(b, &threadspb.CollectionConfig{Name: "items"})
	var n atomic.Int64
	call := func(b *testing.B) {
		i := n.Add(1)
		_, err := api.Create(ctx, &threadspb.CreateRequest{DbID: id, CollectionName: "items",
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

// people returns the configuration of the collection the query benchmarks
// use: age is indexed; ageCopy holds the same value with no index, so the
// same range can be planned through the index or as a full scan.
func people() *threadspb.CollectionConfig {
	return &threadspb.CollectionConfig{Name: "people", Indexes: []*threadspb.Index{{Path: "age"}}}
}

// peopleDocs returns n people starting at from, the documents of
// threads/db's benchmarks plus ageCopy: ages spread over 0..9999, so an
// equality on age matches n/10000 of them.
func peopleDocs(from, n int) [][]byte {
	out := make([][]byte, n)
	for i := range n {
		k := from + i
		out[i] = fmt.Appendf(nil, `{"_id":"p%07d","name":"n%d","age":%d,"ageCopy":%d,"address":{"city":"c%d"}}`, k, k, k%10000, k%10000, k%50)
	}
	return out
}

// createOne creates docs in one Create call, that is one write
// transaction, and fails unless every one was created.
func createOne(ctx context.Context, b *testing.B, api threadspb.APIClient, id []byte, docs [][]byte) {
	b.Helper()
	r, err := api.Create(ctx, &threadspb.CreateRequest{DbID: id, CollectionName: "people", Instances: docs})
	if err != nil {
		b.Fatal(err)
	}
	if len(r.InstanceIDs) != len(docs) {
		b.Fatalf("created %d instances; want %d", len(r.InstanceIDs), len(docs))
	}
}

// createStreamed creates docs in one WriteTransaction stream, chunk
// instances per Create request, each request waiting for its reply as a
// client does, and commits by ending the stream.
func createStreamed(ctx context.Context, b *testing.B, api threadspb.APIClient, id []byte, docs [][]byte, chunk int) {
	b.Helper()
	s, err := api.WriteTransaction(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// Send reports only io.EOF when the server has ended the stream; its
	// status comes from Recv.
	send := func(req *threadspb.WriteTransactionRequest) {
		if err := s.Send(req); err != nil {
			_, rerr := s.Recv()
			b.Fatalf("send: %v; the stream ended with %v", err, rerr)
		}
	}
	send(&threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_StartTransactionRequest{
		StartTransactionRequest: &threadspb.StartTransactionRequest{DbID: id, CollectionName: "people"}}})
	for part := range slices.Chunk(docs, chunk) {
		send(&threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_CreateRequest{
			CreateRequest: &threadspb.CreateRequest{Instances: part}}})
		r, err := s.Recv()
		if err != nil {
			b.Fatal(err)
		}
		cr := r.GetCreateReply()
		if cr.GetTransactionError() != "" || len(cr.GetInstanceIDs()) != len(part) {
			b.Fatalf("created %d instances (error %q); want %d", len(cr.GetInstanceIDs()), cr.GetTransactionError(), len(part))
		}
	}
	if err := s.CloseSend(); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		b.Fatalf("commit: %v", err)
	}
}

// BenchmarkGRPCCreate10kInOneTxn: 10,000 instances in one write
// transaction, streamed 500 per request and sent in one Create call.
func BenchmarkGRPCCreate10kInOneTxn(b *testing.B) {
	ctx, api, id := benchDB(b, people())
	next := 0 // the first person of the next batch, so IDs never repeat
	for _, bc := range []struct {
		name   string
		create func(docs [][]byte)
	}{
		{"stream-500", func(docs [][]byte) { createStreamed(ctx, b, api, id, docs, 500) }},
		{"one-create", func(docs [][]byte) { createOne(ctx, b, api, id, docs) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.create(peopleDocs(next, 10000))
				next += 10000
			}
			b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "instances/s")
		})
	}
}

// loadedPeople returns a hub's DB holding 100,000 people, created 10,000
// per Create call.
func loadedPeople(b *testing.B) (context.Context, threadspb.APIClient, []byte) {
	ctx, api, id := benchDB(b, people())
	for i := range 10 {
		createOne(ctx, b, api, id, peopleDocs(i*10000, 10000))
	}
	return ctx, api, id
}

// timedGRPCFind runs a Find b.N times, checks it returns want instances
// each time, and reports its median and 99th-percentile latency.
func timedGRPCFind(ctx context.Context, b *testing.B, api threadspb.APIClient, id []byte, q string, want int) {
	req := &threadspb.FindRequest{DbID: id, CollectionName: "people", QueryJSON: []byte(q)}
	lat := make([]time.Duration, 0, 1024)
	for b.Loop() {
		start := time.Now()
		r, err := api.Find(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Instances) != want {
			b.Fatalf("found %d; want %d", len(r.Instances), want)
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

// reportLatency reports the median and 99th percentile of lat.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Microsecond), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Microsecond), "p99-µs")
}

// BenchmarkGRPCFindIndexedEq100k: an indexed equality over 100,000
// instances returning 10.
func BenchmarkGRPCFindIndexedEq100k(b *testing.B) {
	ctx, api, id := loadedPeople(b)
	timedGRPCFind(ctx, b, api, id, `{"ands":[{"fieldPath":"age","operation":0,"value":{"float":1234}}]}`, 10)
}

// BenchmarkGRPCFindRange100k: a range returning 100 of 100,000 instances,
// on the indexed age and on ageCopy, which has no index and so is scanned.
func BenchmarkGRPCFindRange100k(b *testing.B) {
	ctx, api, id := loadedPeople(b)
	for _, bc := range []struct{ name, field string }{{"indexed", "age"}, {"scan", "ageCopy"}} {
		q := fmt.Sprintf(`{"ands":[{"fieldPath":%q,"operation":4,"value":{"float":500}},{"fieldPath":%q,"operation":3,"value":{"float":510}}]}`, bc.field, bc.field)
		b.Run(bc.name, func(b *testing.B) { timedGRPCFind(ctx, b, api, id, q, 100) })
	}
}

// arrival is a Listen event's instance and when the client received it.
type arrival struct {
	id string
	at time.Time
}

// BenchmarkGRPCListenLatency: from the start of a one-instance Create call
// to the client receiving its Listen event.
func BenchmarkGRPCListenLatency(b *testing.B) {
	ctx, api, id := benchDB(b, people())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := api.Listen(ctx, &threadspb.ListenRequest{DbID: id, Filters: []*threadspb.ListenRequest_Filter{{CollectionName: "people"}}})
	if err != nil {
		b.Fatal(err)
	}
	arrived := make(chan arrival, 1024)
	go func() {
		defer close(arrived)
		for {
			r, err := s.Recv()
			if err != nil {
				return // the benchmark sees the closed channel
			}
			select {
			case arrived <- arrival{r.InstanceID, time.Now()}:
			case <-ctx.Done():
				return
			}
		}
	}()
	n := 0
	create := func() string {
		r, err := api.Create(ctx, &threadspb.CreateRequest{DbID: id, CollectionName: "people",
			Instances: [][]byte{fmt.Appendf(nil, `{"name":"n%d"}`, n)}})
		n++
		if err != nil {
			b.Fatal(err)
		}
		return r.InstanceIDs[0]
	}
	next := func() arrival {
		select {
		case a, ok := <-arrived:
			if !ok {
				b.Fatal("the Listen stream ended")
			}
			return a
		case <-time.After(10 * time.Second):
			b.Fatal("no Listen event within 10s")
		}
		return arrival{}
	}
	// The stream listens from when the server places it, which the client
	// cannot see: create until an event arrives. Later iterations skip the
	// events of any surplus creates by ID.
	deadline := time.Now().Add(30 * time.Second)
	for placed := false; !placed; {
		if time.Now().After(deadline) {
			b.Fatal("the Listen stream delivered nothing within 30s")
		}
		create()
		select {
		case _, ok := <-arrived:
			if !ok {
				b.Fatal("the Listen stream ended")
			}
			placed = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	lat := make([]time.Duration, 0, 1024)
	for b.Loop() {
		start := time.Now()
		want := create()
		a := next()
		for a.id != want {
			a = next()
		}
		lat = append(lat, a.at.Sub(start))
	}
	reportLatency(b, lat)
}
