package abuse

import (
	"encoding/json"
	"slices"
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
	if len(hostile) > 0 {
		startAttacker(b, h, hostile)
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
	h.alive(b)
	_, peak := h.rss(b)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}
