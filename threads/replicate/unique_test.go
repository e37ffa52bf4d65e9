package replicate

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// TestUniqueAcrossReplicas: two hubs apart each accept an instance with
// the same value at a unique index. When they meet, both keep the one
// written first and hold the other as a conflict, which Listen reports
// deleted where it was visible; the owner resolves it by creating it
// again with another value, and both hubs end with the same instances.
func TestUniqueAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	a, b := newNode(t, Config{}), newNode(t, Config{})
	key, err := threads.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.threads().NewDB(ctx, "", hub.DBOptions{Name: "people", Key: key.Bytes(), Collections: []hub.CollectionConfig{{Name: "notes", Indexes: []hub.Index{{Path: "name", Unique: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.repl.Join(ctx, b.user, a.addr(t), id, key, ""); err != nil {
		t.Fatal(err)
	}
	// Apart: nobody hands records on unless told to.
	a.dbs.OnRecords(nil)
	b.dbs.OnRecords(nil)
	note := func(id, name string) []json.RawMessage {
		return []json.RawMessage{json.RawMessage(`{"_id":"` + id + `","name":"` + name + `"}`)}
	}
	if _, err := a.threads().Create(ctx, id, "notes", note("first", "ann")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // B's write gets a later clock: the rule then picks A's
	if _, err := b.threads().Create(ctx, id, "notes", note("second", "ann")); err != nil {
		t.Fatal(err)
	}
	// Listen on B to its whole log: its "second" is about to lose.
	lost := make(chan db.Event, 1)
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go b.open(t, id).Listen(lctx, b.user, 0, nil, func(e db.Event) error {
		if e.ID == "second" && e.Action == db.ActionDelete {
			lost <- e
			return context.Canceled
		}
		return nil
	})
	for _, n := range []*node{a, b} {
		if err := n.dbs.WaitRecords(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sync := func(from, to *node) { t.Helper(); from.syncNow(t, to, id) }
	sync(a, b)
	sync(b, a)
	for _, n := range []*node{a, b} {
		if got := n.ids(t, id); !slices.Equal(got, []string{"first"}) {
			t.Fatalf("after the hubs met, one holds %v; want first alone", got)
		}
		conflicts, err := n.open(t, id).Conflicts(ctx, "notes")
		if err != nil {
			t.Fatal(err)
		}
		if len(conflicts) != 1 || conflicts[0].ID != "second" {
			t.Fatalf("conflicts %+v; want second", conflicts)
		}
	}
	select {
	case <-lost:
	case <-time.After(2 * time.Minute):
		t.Fatal("B's listener was not told that second lost")
	}
	// The value stays taken; the owner resolves the conflict.
	_, err = b.threads().Create(ctx, id, "notes", note("third", "ann"))
	errorstest.WantKind(t, err, errors.Exist, "unique index")
	if _, err := b.threads().Create(ctx, id, "notes", note("second", "bob")); err != nil {
		t.Fatalf("creating the conflict again with another value: %v", err)
	}
	if err := b.dbs.WaitRecords(ctx); err != nil {
		t.Fatal(err)
	}
	sync(b, a)
	for _, n := range []*node{a, b} {
		if got := n.ids(t, id); !slices.Equal(got, []string{"first", "second"}) {
			t.Fatalf("after the owner resolved the conflict, a hub holds %v; want first and second", got)
		}
		if conflicts, err := n.open(t, id).Conflicts(ctx, "notes"); err != nil || len(conflicts) != 0 {
			t.Fatalf("conflicts after resolving: %+v, %v", conflicts, err)
		}
		found, err := n.threads().Find(ctx, id, "notes", json.RawMessage(`{"ands":[{"fieldPath":"name","operation":0,"value":{"string":"bob"}}]}`))
		if err != nil || len(found) != 1 {
			t.Fatalf("the index finds %d instances named bob, %v; want one", len(found), err)
		}
	}
}
