package abuse

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkStalledListener measures what a Listen stream that never reads
// costs hubd: b.N such streams on one DB (see stalledListeners), then
// twenty 50 KB writes behind them. It reports hubd's RSS growth per
// stream:
//
//	go test -run '^$' -bench StalledListener -benchtime 500x ./test/abuse
func BenchmarkStalledListener(b *testing.B) {
	h := startHub(b, "--max-streams-per-principal", strconv.Itoa(b.N+1), "--max-streams-per-account", strconv.Itoa(b.N+1))
	tn := newTenant(b, h, "stalled")
	id := tn.notesDB(b)
	big := json.RawMessage(`{"text":"` + strings.Repeat("x", 50<<10) + `"}`)
	write := func() {
		for range 20 {
			if _, err := tn.Threads.Create(tn.User, id, "notes", big); err != nil {
				b.Fatalf("Create: %v", err)
			}
		}
	}
	write()
	before, _ := h.rss(b)
	ctx, cancel := context.WithCancel(tn.User)
	defer cancel()
	b.ResetTimer()
	streams := stalledListeners(b, h, ctx, id, b.N)
	write()
	for i, s := range streams {
		if _, err := s.Header(); err != nil { // sent with the first event
			b.Fatalf("listener %d: %v", i, err)
		}
	}
	b.StopTimer()
	h.alive(b)
	after, _ := h.rss(b)
	b.ReportMetric(float64(after-before)/float64(b.N)/1024, "KiB/listener")
	b.ReportMetric(float64(after)/(1<<20), "RSS-MiB")
}
