package store

import (
	"fmt"
	"testing"
)

// BenchmarkSyncedCommit is the floor under every durable write: one small
// batch committed and synced to disk. A single writer cannot commit more
// often than this allows, whatever runs above the store.
func BenchmarkSyncedCommit(b *testing.B) {
	s := open(b, b.TempDir())
	defer s.Close()
	i := 0
	for b.Loop() {
		batch := s.NewBatch()
		batch.Put([]byte(fmt.Sprintf("k/%d", i)), rec{i})
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
