package db

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// stateHash digests everything a reader can observe of a DB, and the
// indexes derived from it: visible collections with their configs,
// visible instances, and index entries.
func stateHash(t testing.TB, d *DB) string {
	t.Helper()
	h := sha256.New()
	st := d.m.st
	err := store.ScanJSON(st, colPrefix(d.pfx), func(_ []byte, c *colRecord) error {
		if c.Deleted {
			return nil
		}
		fmt.Fprintf(h, "col %s %s %v %q %q\n", c.Config.Name, c.Config.Schema, c.Config.Indexes, c.Config.WriteValidator, c.Config.ReadFilter)
		return store.ScanJSON(st, docPrefix(d.pfx, c.Config.Name), func(k []byte, doc *docRecord) error {
			if doc.visible(c) {
				fmt.Fprintf(h, "doc %s %s\n", k, doc.Value)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	prefix := append(dbPrefix(d.id), "idx/"...)
	if err := st.Scan(prefix, func(k, v []byte) error { fmt.Fprintf(h, "idx %x %s\n", k, v); return nil }); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// replica is one peer's copy of a DB.
type replica struct {
	m       *Manager
	d       *DB
	writers []hub.Principal
}

func newReplica(t *testing.T, id threads.ID, key threads.Key, now func() time.Time, cols []CollectionConfig) *replica {
	t.Helper()
	m := newManager(t, Config{Now: now})
	owner := user(t)
	if _, err := m.NewDB(context.Background(), owner, id, "shared", &key, cols); err != nil {
		t.Fatal(err)
	}
	d, err := m.open(id)
	if err != nil {
		t.Fatal(err)
	}
	return &replica{m: m, d: d, writers: []hub.Principal{owner, user(t)}}
}

// logRecords returns, per log, the blocks of each record in log order.
func (r *replica) logRecords(t *testing.T) map[peer.ID][][]threads.Block {
	t.Helper()
	// The last writes' records are formed behind their acknowledgement.
	if err := r.d.WaitRecords(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := r.m.threads
	logs, err := ts.Logs(r.d.id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[peer.ID][][]threads.Block{}
	for _, l := range logs {
		recs, err := ts.Records(r.d.id, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			var blocks []threads.Block
			get := func(c cid.Cid) ([]byte, error) {
				data, err := ts.GetBlock(r.d.id, c)
				if err == nil {
					blocks = append(blocks, threads.Block{Cid: c, Data: data})
				}
				return data, err
			}
			if _, err := get(rec.Cid); err != nil {
				t.Fatal(err)
			}
			if _, err := threads.OpenEvent(r.d.info.Key, rec, get); err != nil {
				t.Fatal(err)
			}
			out[l.ID] = append(out[l.ID], blocks)
		}
	}
	return out
}

// ingestAll feeds every record to r, interleaving the logs at random but
// keeping each log's order; records r already holds are skipped.
func (r *replica) ingestAll(t *testing.T, logs map[peer.ID][][]threads.Block, rng *rand.Rand) {
	t.Helper()
	var order []peer.ID
	for l, recs := range logs {
		for range recs {
			order = append(order, l)
		}
	}
	// Sort first so that the shuffle alone decides the order.
	sortPeers(order)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	// Runs of 1 to 8 records go in one batch, so that events applied
	// together in one commit converge as those applied one by one do.
	next := map[peer.ID]int{}
	for len(order) > 0 {
		k := min(len(order), 1+rng.IntN(8))
		batch := make([][]threads.Block, k)
		for i, l := range order[:k] {
			batch[i] = logs[l][next[l]]
			next[l]++
		}
		order = order[k:]
		if _, err := r.d.IngestBatch(context.Background(), batch); err != nil {
			t.Fatalf("ingest a batch of %d records: %v", k, err)
		}
	}
}

func sortPeers(ids []peer.ID) {
	for i := 1; i < len(ids); i++ {
		for j := i; j > 0 && ids[j] < ids[j-1]; j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
}

// TestConvergence is the convergence property: two replicas of one DB take
// conflicting writes independently (the same instances created, saved and
// deleted by different writers, collections changed and deleted), with
// clocks that collide; then the union of their records is applied in many
// random orders to fresh replicas and to each other. Every replica must end
// in the same state.
func TestConvergence(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { converge(t, seed, people, 100) })
	}
}

// TestConvergenceUnique is the convergence property with a unique index
// on names drawn from only four: replicas apart give the same name to
// different instances, and every replica must settle the conflicts the
// same way (unique.go).
func TestConvergenceUnique(t *testing.T) {
	unique := func() CollectionConfig {
		c := people()
		c.Indexes = append([]Index{{Path: "name", Unique: true}}, c.Indexes...)
		return c
	}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { converge(t, seed, unique, 4) })
	}
}

// converge runs the property on collection people as config makes it,
// with names drawn from names values.
func converge(t *testing.T, seed uint64, config func() CollectionConfig, names int) {
	rng := rand.New(rand.NewPCG(seed, 42))
	id, _ := threads.NewID(threads.Raw)
	key, _ := threads.NewKey()
	// A frozen wall clock: every replica's clock ticks from the same
	// instant, so versions collide and the log ID must break the tie.
	frozen := func() time.Time { return time.Unix(1_800_000_000, 0) }
	a := newReplica(t, id, key, frozen, []CollectionConfig{config()})
	b := newReplica(t, id, key, frozen, nil)
	b.ingestAll(t, a.logRecords(t), rng) // b learns the collection

	ctx := context.Background()
	for range 120 {
		r := a
		if rng.IntN(2) == 1 {
			r = b
		}
		w := r.writers[rng.IntN(len(r.writers))]
		docID := fmt.Sprintf("d%d", rng.IntN(8))
		value := fmt.Sprintf(`{"_id":%q,"name":"n%d","age":%d,"address":{"city":"c%d"}}`, docID, rng.IntN(names), rng.IntN(5), rng.IntN(3))
		switch k := rng.IntN(20); {
		case k < 16:
			err := write(t, r.d, w, "people", func(x *Txn) error {
				exists, err := x.Has(ctx, []string{docID})
				switch {
				case err != nil:
					return err
				case !exists:
					_, err = x.Create(ctx, [][]byte{[]byte(value)})
				case rng.IntN(3) == 0:
					err = x.Delete(ctx, []string{docID})
				default:
					err = x.Save(ctx, [][]byte{[]byte(value)})
				}
				return err
			})
			if err != nil && !errors.Is(errors.NotExist, err) && !errors.Is(errors.Exist, err) {
				t.Fatal(err)
			}
		case k < 18:
			cfg := config()
			cfg.Indexes = cfg.Indexes[:rng.IntN(len(cfg.Indexes)+1)]
			if err := r.d.UpdateCollection(ctx, w, cfg); err != nil && !errors.Is(errors.NotExist, err) && !errors.Is(errors.FailedPrecondition, err) {
				t.Fatal(err)
			}
		case k < 19:
			if err := r.d.DeleteCollection(ctx, w, "people"); err != nil && !errors.Is(errors.NotExist, err) {
				t.Fatal(err)
			}
		default:
			if err := r.d.NewCollection(ctx, w, config()); err != nil && !errors.Is(errors.Exist, err) {
				t.Fatal(err)
			}
		}
	}

	all := a.logRecords(t)
	for l, recs := range b.logRecords(t) {
		if len(recs) > len(all[l]) {
			all[l] = recs
		}
	}
	a.ingestAll(t, all, rng)
	b.ingestAll(t, all, rng)
	want := stateHash(t, a.d)
	if got := stateHash(t, b.d); got != want {
		t.Fatalf("replicas a and b differ after exchanging records: %s vs %s", want, got)
	}
	for i := range 5 {
		c := newReplica(t, id, key, frozen, nil)
		c.ingestAll(t, all, rng)
		if got := stateHash(t, c.d); got != want {
			t.Fatalf("fresh replica %d differs: %s vs %s", i, got, want)
		}
	}
}
