package replicate

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/threads"
)

// Benchmarks of replication between hubs in process: each hub has its own
// pebble store (every commit synced) and its own libp2p host on loopback
// TCP. Results and the commands are in bench/RESULTS.md.

var (
	catchUpRecords = flag.Int("catchup-records", 100_000, "records BenchmarkCatchUp replicates")
	catchUpBatch   = flag.Int("catchup-batch", DefaultBatch, "Config.Batch of the hubs of BenchmarkCatchUp")
)

// listen streams the IDs of the instances created in DB id on n, from now
// on, until the benchmark ends.
func listen(b *testing.B, n *node, id threads.ID) <-chan string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan string, 1<<16)
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		close(started)
		n.threads().Listen(ctx, id, []hub.ListenFilter{{Collection: "notes", Action: hub.ActionCreate}}, 0, func(ev hub.ListenEvent) error {
			out <- ev.InstanceID
			return nil
		})
	}()
	b.Cleanup(func() { cancel(); <-done })
	<-started
	// The listener is registered once an event written now reaches it.
	probe := fmt.Sprintf("probe-%p", out)
	create(b, n, id, probe)
	for got := range out {
		if got == probe {
			break
		}
	}
	return out
}

// await reads ids until it has seen want.
func await(b *testing.B, ids <-chan string, want string) {
	b.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case got := <-ids:
			if got == want {
				return
			}
		case <-timeout:
			b.Fatalf("no Listen event for %s within a minute", want)
		}
	}
}

// joined makes a DB on a and joins it from each of peers.
func joined(b *testing.B, a *node, peers ...*node) threads.ID {
	b.Helper()
	id, key := hosted(b, a)
	for _, p := range peers {
		if _, err := p.repl.Join(context.Background(), p.user, a.addr(b), id, key, ""); err != nil {
			b.Fatal(err)
		}
	}
	return id
}

// latencies sorts ds and reports their percentiles in milliseconds.
func latencies(b *testing.B, ds []time.Duration) {
	b.Helper()
	slices.Sort(ds)
	pct := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.90), "p90-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// BenchmarkCreateToListen: a Create on hub A, acknowledged (durable), until
// the Listen event for it on hub B, which joined A's DB.
func BenchmarkCreateToListen(b *testing.B) {
	a, p := newNode(b, Config{}), newNode(b, Config{})
	id := joined(b, a, p)
	events := listen(b, p, id)
	var ds []time.Duration
	for i := 0; b.Loop(); i++ {
		want := fmt.Sprint("n", i)
		start := time.Now()
		create(b, a, id, want)
		await(b, events, want)
		ds = append(ds, time.Since(start))
	}
	latencies(b, ds)
}

// BenchmarkFanOut: one writer, ten hubs that joined its DB; each Create
// until its Listen event on each of the ten. The latencies are of every
// event on every peer; all-ms is when the last peer had it.
func BenchmarkFanOut(b *testing.B) {
	a := newNode(b, Config{})
	peers := make([]*node, 10)
	for i := range peers {
		peers[i] = newNode(b, Config{})
	}
	id := joined(b, a, peers...)
	events := make([]<-chan string, len(peers))
	for i, p := range peers {
		events[i] = listen(b, p, id)
	}
	var ds, last []time.Duration
	for i := 0; b.Loop(); i++ {
		want := fmt.Sprint("n", i)
		start := time.Now()
		create(b, a, id, want)
		got := make([]time.Duration, len(peers))
		var wg sync.WaitGroup
		for j := range peers {
			wg.Go(func() {
				await(b, events[j], want)
				got[j] = time.Since(start)
			})
		}
		wg.Wait()
		ds = append(ds, got...)
		last = append(last, slices.Max(got))
	}
	latencies(b, ds)
	slices.Sort(last)
	b.ReportMetric(float64(last[len(last)/2])/float64(time.Millisecond), "all-p50-ms")
	b.ReportMetric(float64(last[min(len(last)-1, len(last)*99/100)])/float64(time.Millisecond), "all-p99-ms")
}

// BenchmarkCatchUp: hub A holds a DB whose log has -catchup-records
// records (both hubs carry -catchup-batch records a stream), written while no peer was there (a partition); then hub B
// joins, and Join returns once B holds them all. Peak-heap-MiB is the
// most heap both hubs (one process) held meanwhile, sampled every
// millisecond, above what it was when B began.
func BenchmarkCatchUp(b *testing.B) {
	a := newNode(b, Config{Batch: *catchUpBatch})
	id, key := hosted(b, a)
	writeMany(b, a, id, *catchUpRecords)
	for b.Loop() {
		b.StopTimer()
		p := newNode(b, Config{Batch: *catchUpBatch})
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var peak atomic.Uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
					peak.Store(ms.HeapAlloc - base)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		b.StartTimer()
		if _, err := p.repl.Join(context.Background(), p.user, a.addr(b), id, key, ""); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		close(stop)
		<-sampled
		b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
		if got := len(p.ids(b, id)); got != *catchUpRecords {
			b.Fatalf("B holds %d instances after Join; want %d", got, *catchUpRecords)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(*catchUpRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// writeMany creates n instances in DB id on hub a, one record each, from
// 32 writers at once (their syncs are shared).
func writeMany(b *testing.B, a *node, id threads.ID, n int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				doc := json.RawMessage(fmt.Sprintf(`{"_id":"n%d","body":"a note of some thirty bytes"}`, i))
				if _, err := a.threads().Create(context.Background(), id, "notes", []json.RawMessage{doc}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	if err := a.dbs.WaitRecords(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriteReplicated: one writer's Creates, each acknowledged
// (durable) before the next, on hub A0's DB, which has no peer, and on hub
// A1's, which hub B joined (every write is pushed to B as it is made).
// The writes alternate between the two in runs of 50, so that the
// machine's changing load falls on both alike; replication of a run's
// last writes may spill into the next run. ratio is A1's creates/s over
// A0's: what replication costs the writer.
func BenchmarkWriteReplicated(b *testing.B) {
	alone := newNode(b, Config{})
	aloneID, _ := hosted(b, alone)
	shared := newNode(b, Config{})
	sharedID := joined(b, shared, newNode(b, Config{}))
	const run = 50
	var took [2]time.Duration
	var n [2]int
	for i := 0; b.Loop(); i++ {
		k := (i / run) % 2
		h, id := alone, aloneID
		if k == 1 {
			h, id = shared, sharedID
		}
		start := time.Now()
		create(b, h, id, fmt.Sprint("n", i))
		took[k] += time.Since(start)
		n[k]++
	}
	if n[0] == 0 || n[1] == 0 {
		return // too few iterations to compare: use -benchtime 200x or more
	}
	rate := func(k int) float64 { return float64(n[k]) / took[k].Seconds() }
	b.ReportMetric(rate(0), "alone-creates/s")
	b.ReportMetric(rate(1), "replicated-creates/s")
	b.ReportMetric(rate(1)/rate(0), "ratio")
}
