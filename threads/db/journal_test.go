package db

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/selfhub/hub"
)

// TestRecordsFormedInRuns checks both ways the former starts: a few
// writes get their records without anyone waiting for them (formDelay),
// and a run of formRun writes or more gets them too, all in one log
// chain.
func TestRecordsFormedInRuns(t *testing.T) {
	for _, n := range []int{1, formRun - 1, 3*formRun + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m := newManager(t, Config{})
			p := user(t)
			d := newDB(t, m, p)
			if err := d.WaitRecords(context.Background()); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				create(t, d, p, fmt.Sprintf(`{"name":"n%d","age":%d}`, i, i))
			}
			// No WaitRecords: poll until the journal is empty.
			journal := func() int {
				k := 0
				if err := m.st.Scan(jrnPrefix(d.pfx), func(_, _ []byte) error { k++; return nil }); err != nil {
					t.Fatal(err)
				}
				return k
			}
			deadline := time.Now().Add(2 * time.Minute)
			for journal() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d journal entries still wait for their records", journal(), n)
				}
				time.Sleep(time.Millisecond)
			}
			logs, err := m.threads.Logs(d.id)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, l := range logs {
				recs, err := m.threads.Records(d.id, l.ID) // verifies the chain
				if err != nil {
					t.Fatal(err)
				}
				total += len(recs)
			}
			if want := n + 1; total != want { // and the collection's creation
				t.Fatalf("%d records; want %d", total, want)
			}
		})
	}
}

// TestManagerWaitRecords: when a hub stops it waits, for every open DB,
// until each acknowledged write has its record, so none is left in a
// journal.
func TestManagerWaitRecords(t *testing.T) {
	m := newManager(t, Config{})
	owners := []hub.Principal{user(t), user(t)}
	dbs := []*DB{newDB(t, m, owners[0]), newDB(t, m, owners[1])}
	for i := range 10 {
		for j, d := range dbs {
			create(t, d, owners[j], fmt.Sprintf(`{"name":"n%d","age":%d}`, i, i))
		}
	}
	if err := m.WaitRecords(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range dbs {
		n := 0
		if err := m.st.Scan(jrnPrefix(d.pfx), func(_, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("DB %s: %d writes still without their record", d.id, n)
		}
	}
}
