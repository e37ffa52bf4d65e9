// Package threadstest is the conformance suite of hub.Threads: Run checks
// that an implementation behaves as the hub's ThreadDB must, so the service
// bound to a caller and the gRPC client are held to one specification.
//
// The package imports nothing of threads/db: the db package's own tests run
// this suite, and Go forbids the import cycle that would make.
package threadstest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
)

// Run runs the suite against the implementation open returns, with the
// context its calls run in (a client's carries its credentials). open is
// called once for each subtest and must return Threads for a caller that
// owns no DB, so subtests do not see each other's DBs.
func Run(t *testing.T, open func(t *testing.T) (hub.Threads, context.Context)) {
	tests := []struct {
		name string
		run  func(w *world)
	}{
		{"DBs", testDBs},
		{"Collections", testCollections},
		{"Instances", testInstances},
		{"Transactions", testTransactions},
		{"Listen", testListen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th, ctx := open(t)
			tc.run(&world{t: t, ctx: ctx, th: th})
		})
	}
}

// world is one subtest's Threads.
type world struct {
	t   *testing.T
	ctx context.Context
	th  hub.Threads
}

// people is the collection most subtests use: a name is required.
var people = hub.CollectionConfig{
	Name:    "people",
	Schema:  json.RawMessage(`{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}`),
	Indexes: []hub.Index{{Path: "name", Unique: true}},
}

// newDB makes a DB with the people collection.
func (w *world) newDB(name string) hub.ThreadID {
	w.t.Helper()
	id, err := w.th.NewDB(w.ctx, "", hub.DBOptions{Name: name, Collections: []hub.CollectionConfig{people}})
	if err != nil {
		w.t.Fatalf("NewDB %q: %v", name, err)
	}
	return id
}

// person is an instance of people.
func person(id, name string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"_id": id, "name": name})
	return b
}

// names returns the names of people instances, sorted.
func names(t *testing.T, insts []json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, raw := range insts {
		var p struct{ Name string }
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("instance %s: %v", raw, err)
		}
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// wantErr fails the test unless err says hint: inside a transaction the
// wire carries only the message, so the kind is not checked.
func wantErr(t *testing.T, err error, hint string) {
	t.Helper()
	if err == nil || !strings.Contains(errors.Message(err), hint) {
		t.Fatalf("got %v, want an error saying %q", err, hint)
	}
}

func testDBs(w *world) {
	t, ctx := w.t, w.ctx
	id := w.newDB("notes")
	info, err := w.th.GetDBInfo(ctx, id)
	if err != nil || info.ID != id || info.Name != "notes" || len(info.Key) != 64 {
		t.Fatalf("GetDBInfo = %+v, %v; want ID %s, name notes and a 64-byte key", info, err, id)
	}
	list, err := w.th.ListDBs(ctx)
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("ListDBs = %+v, %v; want the one DB", list, err)
	}
	_, err = w.th.NewDB(ctx, id, hub.DBOptions{})
	errorstest.WantKind(t, err, errors.Exist, "already exists")
	_, err = w.th.NewDB(ctx, "", hub.DBOptions{Name: "notes"})
	errorstest.WantKind(t, err, errors.Exist, "notes")
	_, err = w.th.NewDB(ctx, "", hub.DBOptions{Key: []byte("short")})
	errorstest.WantKind(t, err, errors.Invalid, "")
	if err := w.th.DeleteDB(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err = w.th.GetDBInfo(ctx, id)
	errorstest.WantKind(t, err, errors.NotExist, "not found")
	errorstest.WantKind(t, w.th.DeleteDB(ctx, id), errors.NotExist, "not found")
}

func testCollections(w *world) {
	t, ctx := w.t, w.ctx
	db := w.newDB("")
	got, err := w.th.GetCollectionInfo(ctx, db, "people")
	if err != nil || got.Name != "people" || !slices.Equal(got.Indexes, people.Indexes) || len(got.Schema) == 0 {
		t.Fatalf("GetCollectionInfo = %+v, %v; want people as made", got, err)
	}
	pets := hub.CollectionConfig{Name: "pets"}
	if err := w.th.NewCollection(ctx, db, pets); err != nil {
		t.Fatal(err)
	}
	errorstest.WantKind(t, w.th.NewCollection(ctx, db, pets), errors.Exist, "pets")
	errorstest.WantKind(t, w.th.NewCollection(ctx, db, hub.CollectionConfig{Name: "no spaces"}), errors.Invalid, "")
	pets.Indexes = []hub.Index{{Path: "kind"}}
	if err := w.th.UpdateCollection(ctx, db, pets); err != nil {
		t.Fatal(err)
	}
	cols, err := w.th.ListCollections(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, c := range cols {
		listed = append(listed, c.Name)
		if c.Name == "pets" && !slices.Equal(c.Indexes, pets.Indexes) {
			t.Errorf("pets' indexes are %v after the update, want %v", c.Indexes, pets.Indexes)
		}
	}
	slices.Sort(listed)
	if !slices.Equal(listed, []string{"people", "pets"}) {
		t.Fatalf("ListCollections names %v, want people and pets", listed)
	}
	if err := w.th.DeleteCollection(ctx, db, "pets"); err != nil {
		t.Fatal(err)
	}
	_, err = w.th.GetCollectionInfo(ctx, db, "pets")
	errorstest.WantKind(t, err, errors.NotExist, "pets")
}

func testInstances(w *world) {
	t, ctx := w.t, w.ctx
	db := w.newDB("")
	ids, err := w.th.Create(ctx, db, "people", []json.RawMessage{person("ann", "Ann"), json.RawMessage(`{"name": "Bob"}`)})
	if err != nil || len(ids) != 2 || ids[0] != "ann" || ids[1] == "" {
		t.Fatalf("Create = %v, %v; want ann and a made-up _id", ids, err)
	}
	if ok, err := w.th.Has(ctx, db, "people", ids); err != nil || !ok {
		t.Fatalf("Has(%v) = %v, %v", ids, ok, err)
	}
	_, err = w.th.Create(ctx, db, "people", []json.RawMessage{person("ann", "Another")})
	errorstest.WantKind(t, err, errors.Exist, "ann")
	_, err = w.th.Create(ctx, db, "people", []json.RawMessage{json.RawMessage(`{"_id": "nameless"}`)})
	errorstest.WantKind(t, err, errors.Invalid, "name")
	errorstest.WantKind(t, w.th.Verify(ctx, db, "people", []json.RawMessage{json.RawMessage(`{"_id": "ann", "name": 7}`)}), errors.Invalid, "name")
	if err := w.th.Save(ctx, db, "people", []json.RawMessage{person("ann", "Anne")}); err != nil {
		t.Fatal(err)
	}
	got, err := w.th.FindByID(ctx, db, "people", "ann")
	if n := names(t, []json.RawMessage{got}); err != nil || n[0] != "Anne" {
		t.Fatalf("FindByID(ann) = %s, %v; want Anne as saved", got, err)
	}
	found, err := w.th.Find(ctx, db, "people", []byte(`{"ands": [{"fieldPath": "name", "operation": 0, "value": {"string": "Bob"}}]}`))
	if n := names(t, found); err != nil || !slices.Equal(n, []string{"Bob"}) {
		t.Fatalf("Find name = Bob: %v, %v", n, err)
	}
	all, err := w.th.Find(ctx, db, "people", nil)
	if n := names(t, all); err != nil || !slices.Equal(n, []string{"Anne", "Bob"}) {
		t.Fatalf("Find all: %v, %v", n, err)
	}
	_, err = w.th.Find(ctx, db, "people", []byte(`[1]`))
	errorstest.WantKind(t, err, errors.Invalid, "query")
	if err := w.th.Delete(ctx, db, "people", []string{"ann"}); err != nil {
		t.Fatal(err)
	}
	_, err = w.th.FindByID(ctx, db, "people", "ann")
	errorstest.WantKind(t, err, errors.NotExist, "ann")
	errorstest.WantKind(t, w.th.Delete(ctx, db, "people", []string{"ann"}), errors.NotExist, "ann")
	_, err = w.th.Create(ctx, db, "nope", []json.RawMessage{person("x", "X")})
	errorstest.WantKind(t, err, errors.NotExist, "nope")
}

func testTransactions(w *world) {
	t, ctx := w.t, w.ctx
	db := w.newDB("")
	if _, err := w.th.Create(ctx, db, "people", []json.RawMessage{person("ann", "Ann")}); err != nil {
		t.Fatal(err)
	}
	r, err := w.th.ReadTransaction(ctx, db, "people")
	if err != nil {
		t.Fatal(err)
	}
	// The snapshot is fixed once the first call answers (over the wire
	// the begin has no reply of its own).
	if ok, err := r.Has([]string{"ann"}); err != nil || !ok {
		t.Fatalf("the reader's Has(ann) = %v, %v", ok, err)
	}
	wr, err := w.th.WriteTransaction(ctx, db, "people")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wr.Create([]json.RawMessage{person("bob", "Bob")}); err != nil {
		t.Fatal(err)
	}
	if err := wr.Delete([]string{"ann"}); err != nil {
		t.Fatal(err)
	}
	_, err = wr.Create([]json.RawMessage{person("cat", "Bob")})
	wantErr(t, err, "unique") // a refused call leaves the transaction open
	if ok, err := wr.Has([]string{"bob"}); err != nil || !ok {
		t.Fatalf("the writer's Has(bob) = %v, %v; it sees its own writes", ok, err)
	}
	if err := wr.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := wr.Discard(); err != nil {
		t.Fatalf("Discard after Commit: %v; want nothing done", err)
	}
	_, err = wr.Has([]string{"bob"})
	wantErr(t, err, "ended")
	// The read transaction began before the commit: its snapshot holds
	// ann and not bob.
	found, err := r.Find(nil)
	if n := names(t, found); err != nil || !slices.Equal(n, []string{"Ann"}) {
		t.Fatalf("snapshot Find: %v, %v; want Ann alone", n, err)
	}
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	_, err = r.FindByID("ann")
	wantErr(t, err, "ended")
	if ok, err := w.th.Has(ctx, db, "people", []string{"bob"}); err != nil || !ok {
		t.Fatalf("Has(bob) after the commit = %v, %v", ok, err)
	}

	d, err := w.th.WriteTransaction(ctx, db, "people")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create([]json.RawMessage{person("dan", "Dan")}); err != nil {
		t.Fatal(err)
	}
	if err := d.Discard(); err != nil {
		t.Fatal(err)
	}
	if ok, err := w.th.Has(ctx, db, "people", []string{"dan"}); err != nil || ok {
		t.Fatalf("Has(dan) after a discarded create = %v, %v", ok, err)
	}
}

func testListen(w *world) {
	t := w.t
	db := w.newDB("")
	ctx, cancel := context.WithCancel(w.ctx)
	events := make(chan hub.ListenEvent, 100)
	done := make(chan error, 1)
	go func() {
		done <- w.th.Listen(ctx, db, nil, 0, func(ev hub.ListenEvent) error {
			select {
			case events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	first := WaitLive(t, events, func(i int) error {
		_, err := w.th.Create(w.ctx, db, "people", []json.RawMessage{person("", fmt.Sprintf("probe%d", i))})
		return err
	})
	if _, err := w.th.Create(w.ctx, db, "people", []json.RawMessage{person("ann", "Ann")}); err != nil {
		t.Fatal(err)
	}
	if err := w.th.Save(w.ctx, db, "people", []json.RawMessage{person("ann", "Anne")}); err != nil {
		t.Fatal(err)
	}
	if err := w.th.Delete(w.ctx, db, "people", []string{"ann"}); err != nil {
		t.Fatal(err)
	}
	story := []hub.Action{hub.ActionCreate, hub.ActionSave, hub.ActionDelete}
	var live []hub.ListenEvent
	for len(live) < len(story) {
		if ev := <-events; ev.InstanceID == "ann" {
			live = append(live, ev)
		}
	}
	for i, ev := range live {
		if ev.Action != story[i] || ev.Collection != "people" || (ev.Action == hub.ActionDelete) != (ev.Instance == nil) {
			t.Errorf("event %d: %+v, want %v of people/ann, with the instance unless a delete", i, ev, story[i])
		}
	}
	cancel()
	errorstest.WantKind(t, <-done, errors.Canceled, "")

	// Resuming after a probe replays ann's story; a filter keeps the
	// saves alone.
	resume := func(filters []hub.ListenFilter, n int) []hub.ListenEvent {
		t.Helper()
		var got []hub.ListenEvent
		stop := errors.New("enough")
		err := w.th.Listen(w.ctx, db, filters, first.Seq, func(ev hub.ListenEvent) error {
			if ev.InstanceID != "ann" {
				return nil
			}
			got = append(got, ev)
			if len(got) == n {
				return stop
			}
			return nil
		})
		if err != stop && errors.Message(err) != "enough" {
			t.Fatalf("Listen from %d: %v", first.Seq, err)
		}
		return got
	}
	if got := resume(nil, 3); got[0].Seq != live[0].Seq || got[2].Seq != live[2].Seq {
		t.Errorf("resumed events %+v, want %+v", got, live)
	}
	if got := resume([]hub.ListenFilter{{Collection: "people", Action: hub.ActionSave}}, 1); got[0].Seq != live[1].Seq {
		t.Errorf("filtered events %+v, want the save", got)
	}
	err := w.th.Listen(w.ctx, db, []hub.ListenFilter{{Action: hub.ActionDelete + 1}}, 0, func(hub.ListenEvent) error { return nil })
	errorstest.WantKind(t, err, errors.Invalid, "action")
}
