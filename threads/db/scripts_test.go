package db

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db/jsfunc"
)

// TestValidatorsAndFilters covers collections whose writes are checked and
// whose reads are filtered by JavaScript, including a validator that never
// returns: it is a refused write, not a hung DB.
func TestValidatorsAndFilters(t *testing.T) {
	m := newManager(t, Config{Scripts: jsfunc.Limits{Timeout: time.Second}})
	owner, other := user(t), user(t)
	ctx := context.Background()
	id, _ := threads.NewID(threads.Raw)
	notes := notesWithScripts()
	loop := CollectionConfig{Name: "loop", WriteValidator: `while (true) {}`}
	if _, err := m.NewDB(ctx, owner, id, "", nil, []CollectionConfig{notes, loop}); err != nil {
		t.Fatal(err)
	}
	d, _ := m.open(id)
	a := string(owner.Owner())
	err := write(t, d, owner, "notes", func(x *Txn) error {
		_, err := x.Create(ctx, [][]byte{
			[]byte(`{"_id":"open","author":"` + a + `","text":"hi","private":"p"}`),
			[]byte(`{"_id":"hidden","author":"` + a + `","secret":true}`),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Another identity cannot write as the author, nor change the notes.
	err = write(t, d, other, "notes", func(x *Txn) error {
		_, err := x.Create(ctx, [][]byte{[]byte(`{"author":"` + a + `"}`)})
		return err
	})
	if !errors.Is(errors.Permission, err) {
		t.Fatalf("forged create: %v", err)
	}
	err = write(t, d, other, "notes", func(x *Txn) error { return x.Delete(ctx, []string{"open"}) })
	if !errors.Is(errors.Permission, err) {
		t.Fatalf("delete by another identity: %v", err)
	}
	// Reads are filtered per reader.
	read := func(p hub.Principal) (string, []string) {
		txn, err := d.ReadTxn(ctx, p, "notes")
		if err != nil {
			t.Fatal(err)
		}
		defer txn.Discard()
		found, err := txn.Find(ctx, []byte(`{"sort":{"fieldPath":"_id"}}`))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range found {
			out = append(out, string(f))
		}
		one, _ := txn.FindByID(ctx, "hidden")
		return string(one), out
	}
	hidden, all := read(owner)
	if len(all) != 2 || hidden == "" || !strings.Contains(all[1], "private") {
		t.Fatalf("the author sees %v / %q", all, hidden)
	}
	hidden, all = read(other)
	if len(all) != 1 || hidden != "" || strings.Contains(all[0], "private") {
		t.Fatalf("another reader sees %v / %q", all, hidden)
	}
	// A query on a field the filter hides finds nothing for that reader.
	txn, _ := d.ReadTxn(ctx, other, "notes")
	found, _ := txn.Find(ctx, []byte(`{"ands":[{"fieldPath":"private","operation":0,"value":{"string":"p"}}]}`))
	txn.Discard()
	if len(found) != 0 {
		t.Fatalf("a hidden field was queryable: %s", found)
	}
	// An endless validator refuses the write when its time limit passes
	// (a hung write would hang the test); the DB goes on.
	err = write(t, d, owner, "loop", func(x *Txn) error {
		_, err := x.Create(ctx, [][]byte{[]byte(`{"x":1}`)})
		return err
	})
	if !errors.Is(errors.DeadlineExceeded, err) {
		t.Fatalf("endless validator: %v", err)
	}
	if ok, _ := d.hasNow(t, owner, "notes", "open"); !ok {
		t.Fatal("the DB stopped working after an endless validator")
	}
}

// notesWithScripts is a collection whose writes a validator checks (only
// the author may write; a note is created with its author) and whose reads
// a filter rewrites (secret notes are hidden from all but their author;
// everyone else sees notes without the private field).
func notesWithScripts() CollectionConfig {
	return CollectionConfig{
		Name: "notes",
		WriteValidator: `
			if (event.type === "create") return event.patch.json_patch.author === writer;
			return instance.author === writer;`,
		ReadFilter: `
			if (instance.secret && instance.author !== reader) return null;
			if (instance.author !== reader) delete instance.private;
			return instance;`,
	}
}
