package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// TestIDRules checks the rules for an instance's _id on Create: a string
// of at most 256 characters without control characters, or none at all
// (missing, null or ""), in which case a fresh one is generated and the
// instance is stored under it.
func TestIDRules(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	ctx := context.Background()
	// A collection without a schema: the rules hold whatever the schema
	// says.
	if err := d.NewCollection(ctx, p, CollectionConfig{Name: "things"}); err != nil {
		t.Fatal(err)
	}
	createThings := func(docs ...string) ([]string, error) {
		t.Helper()
		var ids []string
		err := write(t, d, p, "things", func(x *Txn) (err error) {
			raw := make([][]byte, len(docs))
			for i, doc := range docs {
				raw[i] = []byte(doc)
			}
			ids, err = x.Create(ctx, raw)
			return err
		})
		return ids, err
	}
	count := func() int {
		t.Helper()
		txn, err := d.ReadTxn(ctx, p, "things")
		if err != nil {
			t.Fatal(err)
		}
		defer txn.Discard()
		all, err := txn.Find(ctx, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}

	longest := strings.Repeat("x", 256)
	if got, err := createThings(`{"_id":"` + longest + `","name":"long"}`); err != nil || len(got) != 1 || got[0] != longest {
		t.Fatalf("a 256-character _id was stored as %q: %v", got, err)
	}
	if ok, err := d.hasNow(t, p, "things", longest); !ok || err != nil {
		t.Fatalf("the 256-character _id is not found: %v, %v", ok, err)
	}

	refused := []struct {
		name string
		id   string // the _id member's JSON
		hint string
	}{
		{"257 characters", `"` + longest + `y"`, "at most 256 characters"},
		{"a newline", `"a\nb"`, "without control characters"},
		{"a NUL", `"a\u0000b"`, "without control characters"},
		{"a DEL", `"a\u007fb"`, "without control characters"},
		{"a C1 control", `"a\u0085b"`, "without control characters"},
		{"a number", `7`, "_id must be a string"},
		{"a boolean", `true`, "_id must be a string"},
		{"an object", `{"id":"a"}`, "_id must be a string"},
		{"an array", `["a"]`, "_id must be a string"},
	}
	for i, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before := count()
			// A valid instance in the same call shares the refusal.
			fine := fmt.Sprint("fine-", i)
			_, err := createThings(`{"_id":"`+fine+`"}`, `{"_id":`+c.id+`}`)
			if !errors.Is(errors.Invalid, err) || !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("_id %s: got %v; want Invalid saying %q", c.id, err, c.hint)
			}
			if after := count(); after != before {
				t.Fatalf("the refusal changed the collection: %d instances, then %d", before, after)
			}
			if ok, err := d.hasNow(t, p, "things", fine); ok || err != nil {
				t.Fatalf("the valid instance of the refused call was stored: %v, %v", ok, err)
			}
		})
	}

	// Each instance without an _id gets its own.
	before := count()
	got, err := createThings(`{"name":"missing"}`, `{"_id":null,"name":"null"}`, `{"_id":"","name":"empty"}`)
	if err != nil || len(got) != 3 {
		t.Fatalf("created %v: %v", got, err)
	}
	seen := map[string]bool{}
	for i, name := range []string{"missing", "null", "empty"} {
		id := got[i]
		if _, err := uuid.Parse(id); err != nil || seen[id] {
			t.Fatalf("instance %q got _id %q: %v, seen before: %v", name, id, err, seen[id])
		}
		seen[id] = true
		stored := findByID(t, d, p, "things", id)
		if stored["_id"] != id || stored["name"] != name {
			t.Fatalf("under _id %s is stored %v; want instance %q holding its _id", id, stored, name)
		}
	}
	if after := count(); after != before+3 {
		t.Fatalf("%d instances after creating 3 more than %d", after, before)
	}
}

// findByID returns the stored instance of col with id, decoded.
func findByID(t *testing.T, d *DB, p hub.Principal, col, id string) map[string]any {
	t.Helper()
	ctx := context.Background()
	txn, err := d.ReadTxn(ctx, p, col)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard()
	raw, err := txn.FindByID(ctx, id)
	if err != nil {
		t.Fatalf("FindByID %s: %v", id, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
