package db

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
)

// TestEachDBSkipsFailures fails the callback for one DB: every other DB
// is still visited, and the failure is reported, not returned.
func TestEachDBSkipsFailures(t *testing.T) {
	m := newManager(t, Config{})
	ids := map[threads.ID]bool{}
	for range 3 {
		ids[newDB(t, m, user(t)).id] = true
	}
	var bad threads.ID
	for id := range ids {
		bad = id
		break
	}
	visited, failed := 0, 0
	err := m.EachDB(context.Background(), func(id threads.ID) error {
		visited++
		if id == bad {
			return errors.E(errors.Internal, "hostile")
		}
		return nil
	}, func(id threads.ID, err error) {
		if id != bad {
			t.Errorf("failed reported %s, not the failing DB", id)
		}
		failed++
	})
	if err != nil || visited != 3 || failed != 1 {
		t.Fatalf("EachDB = %v, visited %d, failed %d; want nil, 3, 1", err, visited, failed)
	}
}

// TestStoredInstanceRunsNoFilter reads an instance that the collection's
// read filter hides from everyone: the hub's own read gets it as stored,
// and a deleted instance or collection is NotExist.
func TestStoredInstanceRunsNoFilter(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	ctx := context.Background()
	ids := create(t, d, p, `{"name":"ada"}`, `{"name":"bob"}`)
	cfg := people()
	cfg.ReadFilter = `throw new Error("x")`
	if err := d.UpdateCollection(ctx, p, cfg); err != nil {
		t.Fatal(err)
	}
	txn, err := d.ReadTxn(ctx, p, "people")
	if err != nil {
		t.Fatal(err)
	}
	_, err = txn.FindByID(ctx, ids[0])
	txn.Discard()
	if err == nil {
		t.Fatal("FindByID read through a throwing filter")
	}
	raw, err := m.StoredInstance(ctx, d.id, "people", ids[0])
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil || doc["name"] != "ada" {
		t.Fatalf("StoredInstance = %s, %v", raw, err)
	}
	if err := write(t, d, p, "people", func(txn *Txn) error { return txn.Delete(ctx, ids[1:]) }); err != nil {
		t.Fatal(err)
	}
	if _, err := m.StoredInstance(ctx, d.id, "people", ids[1]); !errors.Is(errors.NotExist, err) {
		t.Fatalf("deleted instance: %v; want NotExist", err)
	}
	if _, err := m.StoredInstance(ctx, d.id, "nothere", ids[0]); !errors.Is(errors.NotExist, err) {
		t.Fatalf("no such collection: %v; want NotExist", err)
	}
}

// TestStoredCollection reads a collection's config as stored, filter and
// all; a deleted collection, a missing one and a missing DB are NotExist.
func TestStoredCollection(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	ctx := context.Background()
	cfg := people()
	cfg.ReadFilter = `throw new Error("x")`
	if err := d.UpdateCollection(ctx, p, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := m.StoredCollection(ctx, d.id, "people")
	if err != nil {
		t.Fatal(err)
	}
	if g, w := mustMarshal(t, got), mustMarshal(t, cfg); g != w {
		t.Fatalf("StoredCollection = %s; want %s", g, w)
	}
	if err := d.DeleteCollection(ctx, p, "people"); err != nil {
		t.Fatal(err)
	}
	other, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		db   threads.ID
		col  string
	}{{"deleted", d.id, "people"}, {"never made", d.id, "nothere"}, {"no such DB", other, "people"}} {
		if _, err := m.StoredCollection(ctx, c.db, c.col); !errors.Is(errors.NotExist, err) {
			t.Errorf("%s: %v; want NotExist", c.name, err)
		}
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAlsoCommitsWithTheEvent adds raw writes to transactions: they are
// stored with a committed write, even one with no instance changes, and
// not at all with a discarded one.
func TestAlsoCommitsWithTheEvent(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	ctx := context.Background()
	put := func(k string) func(*store.Batch) { return func(b *store.Batch) { b.PutRaw([]byte(k), []byte("v")) } }
	has := func(k string) bool {
		ok, err := m.st.Has([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	err := write(t, d, p, "people", func(txn *Txn) error {
		if _, err := txn.Create(ctx, [][]byte{[]byte(`{"name":"ada"}`)}); err != nil {
			return err
		}
		return txn.Also(put("test/with-event"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := write(t, d, p, "people", func(txn *Txn) error { return txn.Also(put("test/alone")) }); err != nil {
		t.Fatal(err)
	}
	discard := errors.E(errors.Canceled, "discard")
	var ended *Txn
	err = write(t, d, p, "people", func(txn *Txn) error {
		ended = txn
		if err := txn.Also(put("test/discarded")); err != nil {
			return err
		}
		return discard
	})
	if err != discard {
		t.Fatalf("write = %v; want it discarded", err)
	}
	if err := ended.Also(put("test/late")); !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("Also on an ended transaction: %v; want FailedPrecondition", err)
	}
	if !has("test/with-event") || !has("test/alone") || has("test/discarded") || has("test/late") {
		t.Fatal("raw writes were not stored exactly with the committed transactions")
	}
}
