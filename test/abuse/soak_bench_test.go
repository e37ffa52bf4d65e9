package abuse

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	threadsclient "github.com/selfhub/hub/client/threads"
)

// BenchmarkSoak measures what hostile tenants cost the well-behaved ones.
// Each sub-benchmark starts a fresh child hubd with two well-behaved
// tenants that write an instance and read it back, b.N times in all;
// "hostile" runs the same beside tenants that attack all the while: write
// validators that bomb memory or backtrack a regex, listeners that never
// read while 50 KB writes pile up, a flood of Listen streams opened and
// dropped, and hundreds of idle connections to the HTTP ports. It reports
// the well-behaved round trip's p50 and p99 and hubd's peak RSS; compare
// the sub-benchmarks of one run (bench/RESULTS.md), and the two calm ones
// for how much the machine's load moved in between:
//
//	go test -run '^$' -bench Soak -benchtime 3000x ./test/abuse
func BenchmarkSoak(b *testing.B) {
	b.Run("calm", func(b *testing.B) { soak(b, nil) })
	for _, a := range attacks {
		b.Run("hostile-"+a, func(b *testing.B) { soak(b, []string{a}) })
	}
	b.Run("hostile-all", func(b *testing.B) { soak(b, attacks) })
	// Calm again, last: how far the machine's own load moved the figures
	// over the run.
	b.Run("calm-again", func(b *testing.B) { soak(b, nil) })
}

// attacks are the kinds of attack the soak makes, alone or all at once.
var attacks = []string{"scripts", "listeners", "streams", "conns"}

func soak(b *testing.B, hostile []string) {
	h := startHub(b)
	good := []*tenant{newTenant(b, h, "good1"), newTenant(b, h, "good2")}
	dbs := make([]threadsclient.ID, len(good))
	for i, tn := range good {
		id, err := tn.Threads.NewDB(tn.User, "", threadsclient.DBOptions{
			Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
		if err != nil {
			b.Fatal(err)
		}
		dbs[i] = id
	}
	ctx, stop := context.WithCancel(context.Background())
	var attackers sync.WaitGroup
	if len(hostile) > 0 {
		attack(b, ctx, h, &attackers, hostile)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		tn, db := good[i%len(good)], dbs[i%len(good)]
		start := time.Now()
		ids, err := tn.Threads.Create(tn.User, db, "notes", json.RawMessage(`{"text":"soak"}`))
		if err == nil {
			_, err = tn.Threads.FindByID(tn.User, db, "notes", ids[0])
		}
		if err != nil {
			b.Fatalf("a well-behaved tenant's round trip %d failed: %v", i, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	stop()
	attackers.Wait()
	h.alive(b)
	_, peak := h.rss(b)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// attack starts the hostile tenants making the kinds of attack named;
// they stop when ctx ends, and wg counts them.
func attack(b *testing.B, ctx context.Context, h *target, wg *sync.WaitGroup, kinds []string) {
	evil := newTenant(b, h, "evil")
	bombs := map[string]string{
		"string": `'x'.repeat(1e9); return true`,
		"array":  `new Array(1e8).fill(0); return true`,
		"regex":  `return /^(a+)+(?=c)/.test('a'.repeat(34)+'b')`,
	}
	var colls []threadsclient.CollectionConfig
	for name, body := range bombs {
		colls = append(colls, threadsclient.CollectionConfig{Name: name, WriteValidator: body})
	}
	colls = append(colls, threadsclient.CollectionConfig{Name: "big"})
	db, err := evil.Threads.NewDB(evil.User, "", threadsclient.DBOptions{Collections: colls})
	if err != nil {
		b.Fatal(err)
	}
	// The attacker's credentials, ended with the attack.
	creds, cancel := context.WithCancel(evil.User)
	context.AfterFunc(ctx, cancel)
	loop := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100_000 { // bounded, whatever happens
				if ctx.Err() != nil {
					return
				}
				fn()
			}
		}()
	}
	// Memory and CPU bombs in write validators: every write is refused.
	for name := range bombs {
		if !slices.Contains(kinds, "scripts") {
			break
		}
		loop(func() { evil.Threads.Create(creds, db, name, json.RawMessage(`{}`)) })
	}
	// Listeners that never read, while 50 KB writes pile up behind them.
	if slices.Contains(kinds, "listeners") {
		listeners(ctx, creds, evil, db, wg, loop)
	}
	// A flood of Listen streams, opened and dropped.
	if slices.Contains(kinds, "streams") {
		loop(func() {
			c, cancel := context.WithTimeout(creds, 20*time.Millisecond)
			evil.Threads.Listen(c, db, nil, 0, func(threadsclient.ListenEvent) error { return nil })
			cancel()
		})
	}
	if slices.Contains(kinds, "conns") {
		idleConns(ctx, h, wg)
	}
}

// listeners opens 50 Listen streams that never read and writes 50 KB
// instances behind them.
func listeners(ctx, creds context.Context, evil *tenant, db threadsclient.ID, wg *sync.WaitGroup, loop func(func())) {
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evil.Threads.Listen(creds, db, nil, 0, func(threadsclient.ListenEvent) error {
				<-ctx.Done()
				return ctx.Err()
			})
		}()
	}
	big := json.RawMessage(`{"blob":"` + strings.Repeat("z", 50<<10) + `"}`)
	loop(func() {
		evil.Threads.Create(creds, db, "big", big)
		sleepCtx(ctx, 50*time.Millisecond)
	})
}

// idleConns holds idle connections to the HTTP ports until ctx ends.
func idleConns(ctx context.Context, h *target, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		for i := range 400 {
			addr := h.Addrs.Gateway
			if i%2 == 1 {
				addr = h.Addrs.Web
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				continue // refused at the cap: that is the point
			}
			conns = append(conns, c)
		}
		<-ctx.Done()
		for _, c := range conns {
			c.Close()
		}
	}()
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
