package abuse

import (
	"encoding/json"
	"slices"
	"syscall"
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
// dropped, and hundreds of idle connections to the HTTP ports. The
// attackers run in a niced process of their own (startAttacker), as they
// would on machines of their own. It reports the well-behaved round trip's
// p50 and p99 and hubd's peak RSS; compare the sub-benchmarks of one run
// (bench/RESULTS.md), and the two calm ones for how much the machine's
// load moved in between:
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

// BenchmarkAlternatingScripts measures what hostile scripts cost the
// well-behaved tenants with calm and hostile round trips taken in turns
// from one hubd: the attacker process is stopped (SIGSTOP) and continued
// every alternatingTurn, so that the load of the machine's other work,
// which on a shared machine moves p99 more than the attack does, weighs
// on both alike. The round trips of the first scriptsSettle after the
// attacker stops, while its last calls may still run, count for neither.
// It reports p50 and p99 of both and the ratio of the p99s:
//
//	go test -run '^$' -bench AlternatingScripts -benchtime 10000x ./test/abuse
func BenchmarkAlternatingScripts(b *testing.B) {
	const (
		alternatingTurn = 2 * time.Second
		// A stopped attacker's calls in flight (one of each of its three
		// loops) may wait for a place up to ten time limits (1 s), and
		// then run for one (100 ms) and its grace (250 ms).
		scriptsSettle = 1500 * time.Millisecond
	)
	h, good, dbs := soakTenants(b)
	attacker := startAttacker(b, h, []string{"scripts"})
	stopped := false
	toggle := func() {
		sig := syscall.SIGSTOP
		if stopped {
			sig = syscall.SIGCONT
		}
		if err := attacker.Signal(sig); err != nil {
			b.Fatalf("signal the attacker: %v", err)
		}
		stopped = !stopped
	}
	// The attacker is continued at the end, so that its end kills it.
	b.Cleanup(func() { attacker.Signal(syscall.SIGCONT) })
	var calm, hostile []time.Duration
	b.ResetTimer()
	turn := time.Now()
	for i := range b.N {
		if time.Since(turn) >= alternatingTurn {
			toggle()
			turn = time.Now()
		}
		d := roundTrip(b, good[i%len(good)], dbs[i%len(good)], i)
		switch {
		case !stopped:
			hostile = append(hostile, d)
		case time.Since(turn) > scriptsSettle:
			calm = append(calm, d)
		}
	}
	b.StopTimer()
	h.alive(b)
	if len(calm) < 100 || len(hostile) < 100 {
		if b.N == 1 {
			return // the testing package's first run, of one round trip
		}
		b.Fatalf("%d calm and %d hostile round trips; run more (-benchtime) for a p99", len(calm), len(hostile))
	}
	calmP50, calmP99 := percentiles(calm)
	hostileP50, hostileP99 := percentiles(hostile)
	b.ReportMetric(calmP50, "calm-p50-ms")
	b.ReportMetric(calmP99, "calm-p99-ms")
	b.ReportMetric(hostileP50, "hostile-p50-ms")
	b.ReportMetric(hostileP99, "hostile-p99-ms")
	b.ReportMetric(hostileP99/calmP99, "p99-ratio")
}

func soak(b *testing.B, hostile []string) {
	h, good, dbs := soakTenants(b)
	if len(hostile) > 0 {
		startAttacker(b, h, hostile)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		lat = append(lat, roundTrip(b, good[i%len(good)], dbs[i%len(good)], i))
	}
	b.StopTimer()
	h.alive(b)
	_, peak := h.rss(b)
	p50, p99 := percentiles(lat)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}

// soakTenants starts a child hubd with two well-behaved tenants, each with
// a DB of one collection, notes.
func soakTenants(b *testing.B) (*target, []*tenant, []threadsclient.ID) {
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
	return h, good, dbs
}

// roundTrip is the well-behaved tenant's round trip i: it writes an
// instance and reads it back, and returns how long that took.
func roundTrip(b *testing.B, tn *tenant, db threadsclient.ID, i int) time.Duration {
	start := time.Now()
	ids, err := tn.Threads.Create(tn.User, db, "notes", json.RawMessage(`{"text":"soak"}`))
	if err == nil {
		_, err = tn.Threads.FindByID(tn.User, db, "notes", ids[0])
	}
	if err != nil {
		b.Fatalf("a well-behaved tenant's round trip %d failed: %v", i, err)
	}
	return time.Since(start)
}

// percentiles sorts lat and returns its p50 and p99, in milliseconds.
func percentiles(lat []time.Duration) (p50, p99 float64) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100])
}
