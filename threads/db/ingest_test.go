package db

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/threads"
)

// TestIngestBatch: a batch applies its records in one commit, skips those
// held already, and at the first record refused stops, keeping those
// before it.
func TestIngestBatch(t *testing.T) {
	id, _ := threads.NewID(threads.Raw)
	key, _ := threads.NewKey()
	now := time.Now
	a := newReplica(t, id, key, now, []CollectionConfig{people()})
	ctx := context.Background()
	for i := range 4 {
		err := write(t, a.d, a.writers[0], "people", func(x *Txn) error {
			_, err := x.Create(ctx, [][]byte{fmt.Appendf(nil, `{"_id":"p%d","name":"n","age":%d}`, i, i)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var recs [][]threads.Block // the collection's record, then p0..p3
	for _, l := range a.logRecords(t) {
		recs = l
	}
	if len(recs) != 5 {
		t.Fatalf("the writer's log holds %d records; want 5", len(recs))
	}
	forged := append([]threads.Block(nil), recs[3]...)
	forged[0] = threads.Block{Cid: recs[3][0].Cid, Data: append([]byte("x"), recs[3][0].Data...)}

	for _, tc := range []struct {
		name  string
		held  int // records ingested before
		batch [][]threads.Block
		n     int
		kind  errors.Kind // of the refusal; 0: none
		count int         // instances visible after
	}{
		{"all", 0, recs, 5, 0, 4},
		{"held ones skipped", 3, recs[1:], 2, 0, 4},
		{"a gap", 0, [][]threads.Block{recs[0], recs[1], recs[3]}, 2, errors.FailedPrecondition, 1},
		{"one that does not verify", 0, [][]threads.Block{recs[0], recs[1], recs[2], forged}, 3, errors.Invalid, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newReplica(t, id, key, now, nil)
			if tc.held > 0 {
				if n, err := b.d.IngestBatch(ctx, recs[:tc.held]); err != nil || n != tc.held {
					t.Fatalf("ingesting the first %d: %d, %v", tc.held, n, err)
				}
			}
			n, err := b.d.IngestBatch(ctx, tc.batch)
			if tc.kind != 0 {
				errorstest.WantKind(t, err, tc.kind, "")
			} else if err != nil {
				t.Fatal(err)
			}
			if n != tc.n {
				t.Fatalf("IngestBatch applied %d records; want %d", n, tc.n)
			}
			txn, err := b.d.ReadTxn(ctx, b.writers[0], "people")
			if err != nil {
				t.Fatal(err)
			}
			defer txn.Discard()
			found, err := txn.Find(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != tc.count {
				t.Fatalf("%d instances visible; want %d", len(found), tc.count)
			}
		})
	}
}
