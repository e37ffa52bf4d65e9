package db

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/threads"
)

// Benchmarks of ThreadDB in process, against the real pebble store with
// every commit synced. Results and the command are in bench/RESULTS.md.

// BenchmarkCreateDurable: one Create per write transaction, one writer;
// every transaction is synced before the next begins.
func BenchmarkCreateDurable(b *testing.B) {
	m := newManager(b, Config{})
	p := user(b)
	d := newDB(b, m, p)
	wal := m.st.WALBytes()
	i := 0
	for b.Loop() {
		create(b, d, p, fmt.Sprintf(`{"name":"n%d","age":%d}`, i, i%100))
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	if err := d.WaitRecords(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(m.st.WALBytes()-wal)/float64(b.N), "WAL-B/create")
}

// BenchmarkCreateDurableParallel: one Create per write transaction from
// many writers at once: a transaction releases the DB before its sync, so
// overlapping syncs are shared (group commit).
func BenchmarkCreateDurableParallel(b *testing.B) {
	m := newManager(b, Config{})
	p := user(b)
	d := newDB(b, m, p)
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			create(b, d, p, fmt.Sprintf(`{"name":"n%d","age":%d}`, i, i%100))
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkCreate10kInOneTxn: 10,000 instances in one transaction.
func BenchmarkCreate10kInOneTxn(b *testing.B) {
	m := newManager(b, Config{})
	p := user(b)
	d := newDB(b, m, p)
	batch := 0
	for b.Loop() {
		create(b, d, p, docs(batch*10000, 10000)...)
		batch++
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "instances/s")
}

// docs returns n people starting at from, ages spread over 0..9999 so an
// equality on age matches n/10000 of them.
func docs(from, n int) []string {
	out := make([]string, n)
	for i := range n {
		k := from + i
		out[i] = fmt.Sprintf(`{"_id":"p%07d","name":"n%d","age":%d,"address":{"city":"c%d"}}`, k, k, k%10000, k%50)
	}
	return out
}

// loaded returns a DB holding 100,000 people.
func loaded(b *testing.B) (*DB, hub.Principal) {
	m := newManager(b, Config{})
	p := user(b)
	d := newDB(b, m, p)
	for i := range 10 {
		create(b, d, p, docs(i*10000, 10000)...)
	}
	return d, p
}

// timedFind runs a query b.N times and reports its median latency.
func timedFind(b *testing.B, d *DB, p hub.Principal, q string, want int) {
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1024)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		txn, err := d.ReadTxn(ctx, p, "people")
		if err != nil {
			b.Fatal(err)
		}
		found, err := txn.Find(ctx, []byte(q))
		txn.Discard()
		if err != nil {
			b.Fatal(err)
		}
		if len(found) != want {
			b.Fatalf("found %d; want %d", len(found), want)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
}

// BenchmarkFindIndexedEq100k: an indexed equality over 100,000 instances
// returning 10.
func BenchmarkFindIndexedEq100k(b *testing.B) {
	d, p := loaded(b)
	timedFind(b, d, p, `{"ands":[{"fieldPath":"age","operation":0,"value":{"float":1234}}]}`, 10)
}

// BenchmarkFindRange100k: a range returning 100 of 100,000 instances,
// through the index and by a full scan.
func BenchmarkFindRange100k(b *testing.B) {
	d, p := loaded(b)
	q := `{"ands":[{"fieldPath":"age","operation":4,"value":{"float":500}},{"fieldPath":"age","operation":3,"value":{"float":510}}]}`
	b.Run("indexed", func(b *testing.B) { timedFind(b, d, p, q, 100) })
	b.Run("scan", func(b *testing.B) {
		saved := d.cols["people"].config.Indexes
		d.cols["people"].config.Indexes = nil
		defer func() { d.cols["people"].config.Indexes = saved }()
		timedFind(b, d, p, q, 100)
	})
}

// BenchmarkListenLatency: from the start of a one-instance write
// transaction to the listener's callback.
func BenchmarkListenLatency(b *testing.B) {
	m := newManager(b, Config{})
	p := user(b)
	d := newDB(b, m, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan time.Time, 1)
	go d.Listen(ctx, p, FromNow, nil, func(Event) error { got <- time.Now(); return nil })
	time.Sleep(20 * time.Millisecond)
	lat := make([]time.Duration, 0, 1024)
	i := 0
	for b.Loop() {
		start := time.Now()
		create(b, d, p, fmt.Sprintf(`{"name":"n%d"}`, i))
		i++
		lat = append(lat, (<-got).Sub(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
}

// BenchmarkScripts: one durable Create per transaction through a write
// validator, and a Find of 100 instances through a read filter, for
// another reader (so every instance is rewritten).
func BenchmarkScripts(b *testing.B) {
	m := newManager(b, Config{})
	p, reader := user(b), user(b)
	id, _ := threads.NewID(threads.Raw)
	ctx := context.Background()
	if _, err := m.NewDB(ctx, p, id, "notes", nil, []CollectionConfig{notesWithScripts()}); err != nil {
		b.Fatal(err)
	}
	d, err := m.DB(ctx, p, id)
	if err != nil {
		b.Fatal(err)
	}
	note := func(i int) []byte {
		return fmt.Appendf(nil, `{"author":%q,"text":"note %d","private":"p%d"}`, p.Owner(), i, i)
	}
	// 1,000 notes to find, whichever sub-benchmarks run.
	var notes [][]byte
	for i := range 1000 {
		notes = append(notes, note(i))
	}
	if err := write(b, d, p, "notes", func(txn *Txn) error {
		_, err := txn.Create(ctx, notes)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Run("validated-create", func(b *testing.B) {
		i := len(notes)
		for b.Loop() {
			if err := write(b, d, p, "notes", func(txn *Txn) error {
				_, err := txn.Create(ctx, [][]byte{note(i)})
				return err
			}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
	b.Run("filtered-find-100", func(b *testing.B) {
		q := []byte(`{"limit":100}`)
		for b.Loop() {
			txn, err := d.ReadTxn(ctx, reader, "notes")
			if err != nil {
				b.Fatal(err)
			}
			found, err := txn.Find(ctx, q)
			txn.Discard()
			if err != nil || len(found) != 100 || bytes.Contains(found[0], []byte("private")) {
				b.Fatalf("found %d, %v; first %s", len(found), err, found[0])
			}
		}
	})
}
