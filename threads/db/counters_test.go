package db

import (
	"testing"

	"github.com/selfhub/hub/errors"
)

// TestCounters checks that the counters read back as written, that a DB
// without any reads as zero, and that a damaged record is reported.
func TestCounters(t *testing.T) {
	m := newManager(t, Config{})
	pfx := []byte("db\x00\x01x")
	if c, err := readCounters(m.st, pfx); err != nil || c != (counters{}) {
		t.Fatalf("no counters: %+v, %v", c, err)
	}
	for _, want := range []counters{{seq: 1, clock: 1795705009607432075, bytes: 264}, {seq: 1 << 40, clock: -1, bytes: 0}} {
		b := m.st.NewBatch()
		b.PutRaw(countersKey(pfx), want.encode())
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if got, err := readCounters(m.st, pfx); err != nil || got != want {
			t.Fatalf("read %+v, %v; want %+v", got, err, want)
		}
	}
	for _, bad := range [][]byte{{}, {0x80}, append(counters{seq: 1}.encode(), 0)} {
		b := m.st.NewBatch()
		b.PutRaw(countersKey(pfx), bad)
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := readCounters(m.st, pfx); !errors.Is(errors.Internal, err) {
			t.Fatalf("malformed %x: %v; want an Internal error", bad, err)
		}
	}
}
