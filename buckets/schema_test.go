package buckets

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads/db"
)

// bucketsCollection returns the config of the fixture DB's buckets
// collection.
func bucketsCollection(t *testing.T, f fixture) db.CollectionConfig {
	t.Helper()
	ctx := context.Background()
	d, err := f.svc.dbs.DB(ctx, f.p, f.thread)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := d.CollectionInfo(ctx, Collection)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestInstanceSchema: the buckets collection the service makes has
// InstanceSchema; every shape of instance the service writes matches it,
// and instances it could not read back are refused as Invalid, leaving the
// stored instance as it was.
func TestInstanceSchema(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "b")
	if got := bucketsCollection(t, f).Schema; string(got) != InstanceSchema {
		t.Fatalf("buckets collection schema = %q; want InstanceSchema", got)
	}
	if _, err := f.svc.SetPathRoles(ctx, f.p, f.thread, b.Key, "dir", map[string]Role{"*": RoleReader}); err != nil {
		t.Fatal(err)
	}
	b, err := f.svc.Get(ctx, f.p, f.thread, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	// A path with a key and no roles: Go writes its roles as null.
	keyOnly := b
	keyOnly.Metadata = cloneMetadata(b.Metadata)
	keyOnly.Metadata["secret"] = Metadata{Key: "k", UpdatedAt: 1}
	saveThroughThreads(t, f, keyOnly)
	saveThroughThreads(t, f, b)
	before, err := f.svc.dbs.StoredInstance(ctx, f.thread, Collection, b.Key)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		change func(doc map[string]any)
	}{
		{"path is a number", func(doc map[string]any) { doc["path"] = 42 }},
		{"path is not /ipfs/", func(doc map[string]any) { doc["path"] = "/ipns/x" }},
		{"no name", func(doc map[string]any) { delete(doc, "name") }},
		{"owner is an object", func(doc map[string]any) { doc["owner"] = map[string]any{} }},
		{"version is text", func(doc map[string]any) { doc["version"] = "1" }},
		{"metadata is a list", func(doc map[string]any) { doc["metadata"] = []any{} }},
		{"a role is a word", func(doc map[string]any) {
			doc["metadata"].(map[string]any)["dir"].(map[string]any)["roles"] = map[string]any{"*": "admin"}
		}},
		{"a role is out of range", func(doc map[string]any) {
			doc["metadata"].(map[string]any)["dir"].(map[string]any)["roles"] = map[string]any{"*": 7}
		}},
		{"a path without roles", func(doc map[string]any) {
			delete(doc["metadata"].(map[string]any)["dir"].(map[string]any), "roles")
		}},
		{"created_at is fractional", func(doc map[string]any) { doc["created_at"] = 1.5 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(before, &doc); err != nil {
				t.Fatal(err)
			}
			c.change(doc)
			raw, _ := json.Marshal(doc)
			err := tryThroughThreads(f, func(txn *db.Txn) error { return txn.Save(ctx, [][]byte{raw}) })
			if !errors.Is(errors.Invalid, err) {
				t.Fatalf("saving %s: %v; want Invalid", raw, err)
			}
			if now, _ := f.svc.dbs.StoredInstance(ctx, f.thread, Collection, b.Key); !bytes.Equal(now, before) {
				t.Fatalf("stored instance changed:\n%s\nwant\n%s", now, before)
			}
		})
	}
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "after.txt", bytes.NewReader([]byte("a")), ""); err != nil {
		t.Fatalf("push after the refused writes: %v", err)
	}
}

// TestSchemaCollections gives the buckets collection of a store from
// before the schema its schema, keeping the owner's read filter (which
// throws, and is not run) and indexes; a schema the owner set and a DB
// without buckets are left alone, and a second run finds nothing to do.
func TestSchemaCollections(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "b")
	d, err := f.svc.dbs.DB(ctx, f.p, f.thread)
	if err != nil {
		t.Fatal(err)
	}
	// Back to what older hubs made, with the owner's additions.
	old := db.CollectionConfig{Name: Collection, Indexes: []db.Index{{Path: "name"}}, ReadFilter: hostileFilter}
	if err := d.UpdateCollection(ctx, f.p, old); err != nil {
		t.Fatal(err)
	}
	own := newDB(t, f.svc, f.p)
	ownSchema := db.CollectionConfig{Name: Collection, Schema: []byte(`{"type": "object"}`)}
	if od, err := f.svc.dbs.DB(ctx, f.p, own); err != nil {
		t.Fatal(err)
	} else if err := od.NewCollection(ctx, f.p, ownSchema); err != nil {
		t.Fatal(err)
	}
	newDB(t, f.svc, f.p) // no buckets collection

	log := slog.New(slog.DiscardHandler)
	if n, err := SchemaCollections(ctx, f.svc.dbs, log); err != nil || n != 1 {
		t.Fatalf("SchemaCollections = %d, %v; want 1 collection changed", n, err)
	}
	got := bucketsCollection(t, f)
	want := old
	want.Schema = []byte(InstanceSchema)
	if g, _ := json.Marshal(got); string(g) != string(mustJSON(t, want)) {
		t.Fatalf("collection after the migration:\n%s\nwant\n%s", g, mustJSON(t, want))
	}
	if cfg, err := f.svc.dbs.StoredCollection(ctx, own, Collection); err != nil || string(cfg.Schema) != string(ownSchema.Schema) {
		t.Fatalf("the owner's schema became %s (%v); want it kept", cfg.Schema, err)
	}
	if n, err := SchemaCollections(ctx, f.svc.dbs, log); err != nil || n != 0 {
		t.Fatalf("SchemaCollections again = %d, %v; want nothing to do", n, err)
	}
	// The bucket's instance is still the bucket's, and the schema holds.
	if _, err := f.svc.GatewayRoot(ctx, f.thread, b.Key); err != nil {
		t.Fatal(err)
	}
	bad, _ := json.Marshal(map[string]any{"_id": b.Key, "path": 1})
	if err := tryThroughThreads(f, func(txn *db.Txn) error { return txn.Save(ctx, [][]byte{bad}) }); !errors.Is(errors.Invalid, err) {
		t.Fatalf("a malformed bucket after the migration: %v; want Invalid", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
