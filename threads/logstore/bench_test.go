package logstore

import (
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends: each one builds a record with
// a 1 KiB body, puts it into its own batch and commits it with a sync.
func BenchmarkAppend(b *testing.B) {
	s := newStore(b)
	info := newInfo(b, "")
	s.create(b, info)
	logKey := newLogKey(b)
	body := make([]byte, 1<<10)
	b.SetBytes(int64(len(body)))
	start := time.Now()
	for b.Loop() {
		unlock := s.Lock(info.ID)
		batch := s.db.NewBatch()
		if _, err := s.Append(batch, info.ID, logKey, body, time.Now()); err != nil {
			b.Fatal(err)
		}
		if err := batch.Commit(); err != nil {
			b.Fatal(err)
		}
		unlock()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}
