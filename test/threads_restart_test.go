package test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads/db/query"
	"github.com/selfhub/hub/threads/db/threadstest"
)

// events runs Listen in the background and hands over its events until the
// test ends.
func events(t *testing.T, tc *threadsclient.Client, ctx context.Context, db threadsclient.ID, after uint64) <-chan threadsclient.ListenEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	ch := make(chan threadsclient.ListenEvent, 100)
	go tc.Listen(ctx, db, nil, after, func(ev threadsclient.ListenEvent) error {
		ch <- ev
		return nil
	})
	return ch
}

func nextEvent(t *testing.T, ch <-chan threadsclient.ListenEvent) threadsclient.ListenEvent {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(time.Minute):
		t.Fatal("no event within a minute")
	}
	return threadsclient.ListenEvent{}
}

// TestThreadsSurviveRestart stops hubd and starts it again on the same
// repo: the DB, its key, its collections (schema, indexes, validator, read
// filter), its instances and its listen log are all there, and a listener
// resumes from a position it got before the restart.
func TestThreadsSurviveRestart(t *testing.T) {
	h := testhub.Start(t, nil)
	ctx, _ := signup(t, hubclient.New(h.Conn), "alice")
	tc := threadsclient.New(h.Conn)
	notes := threadsclient.CollectionConfig{
		Name:           "notes",
		Schema:         json.RawMessage(`{"type":"object","properties":{"_id":{"type":"string"},"title":{"type":"string"},"stars":{"type":"number"}},"required":["title"]}`),
		Indexes:        []threadsclient.Index{{Path: "title", Unique: true}, {Path: "stars"}},
		WriteValidator: `var p = event.patch && event.patch.json_patch; return !(p && p.title === "forbidden")`,
		ReadFilter:     `delete instance.secret; return instance`,
	}
	db, err := tc.NewDB(ctx, "", threadsclient.DBOptions{Name: "diary", Collections: []threadsclient.CollectionConfig{notes}})
	if err != nil {
		t.Fatal(err)
	}
	before, err := tc.GetDBInfo(ctx, db)
	if err != nil {
		t.Fatal(err)
	}

	// A listener from now on: once it is live, note the position of each
	// change that follows.
	live := events(t, tc, ctx, db, 0)
	threadstest.WaitLive(t, live, func(i int) error {
		_, err := tc.Create(ctx, db, "notes", json.RawMessage(fmt.Sprintf(`{"_id":"probe%d","title":"probe %d"}`, i, i)))
		return err
	})
	if _, err := tc.Create(ctx, db, "notes", json.RawMessage(`{"_id":"a","title":"first","stars":3,"secret":"x"}`)); err != nil {
		t.Fatal(err)
	}
	var seqA uint64
	for seqA == 0 {
		if ev := nextEvent(t, live); ev.InstanceID == "a" {
			seqA = ev.Seq
		}
	}
	if _, err := tc.Create(ctx, db, "notes", json.RawMessage(`{"_id":"b","title":"second","stars":5}`)); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, live); ev.InstanceID != "b" {
		t.Fatalf("event after a's: %+v", ev)
	}

	h.Restart()
	tc = threadsclient.New(h.Conn)

	after, err := tc.GetDBInfo(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if after.Name != before.Name || !reflect.DeepEqual(after.Key, before.Key) {
		t.Errorf("after the restart the DB is %+v, was %+v", after, before)
	}
	cols, err := tc.ListCollections(ctx, db)
	if err != nil || len(cols) != 1 || cols[0].Name != "notes" || !reflect.DeepEqual(cols[0].Indexes, notes.Indexes) ||
		cols[0].WriteValidator != notes.WriteValidator || cols[0].ReadFilter != notes.ReadFilter || string(cols[0].Schema) != string(notes.Schema) {
		t.Errorf("after the restart the collections are %+v, %v; want %+v", cols, err, notes)
	}
	found, err := tc.Find(ctx, db, "notes", &query.Query{Ands: []query.Criterion{{FieldPath: "stars", Op: query.Ge, Value: query.FloatValue(3)}}, Sort: query.Sort{FieldPath: "stars"}, Index: "stars"})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || string(found[0]) != `{"_id":"a","title":"first","stars":3}` || string(found[1]) != `{"_id":"b","title":"second","stars":5}` {
		t.Errorf("after the restart Find = %s", found)
	}
	// The schema, the unique index and the validator still hold.
	_, err = tc.Create(ctx, db, "notes", json.RawMessage(`{"stars":1}`))
	errorstest.WantKind(t, err, errors.Invalid, "does not match the collection schema")
	_, err = tc.Create(ctx, db, "notes", json.RawMessage(`{"title":"first"}`))
	errorstest.WantKind(t, err, errors.Exist, "unique index")
	_, err = tc.Create(ctx, db, "notes", json.RawMessage(`{"title":"forbidden"}`))
	errorstest.WantKind(t, err, errors.Permission, "validator")

	// A listener resumes after a's change: b's, then what comes next.
	resumed := events(t, tc, ctx, db, seqA)
	if ev := nextEvent(t, resumed); ev.InstanceID != "b" || ev.Seq <= seqA {
		t.Fatalf("first resumed event %+v, want b's after %d", ev, seqA)
	}
	if _, err := tc.Create(ctx, db, "notes", json.RawMessage(`{"_id":"c","title":"third"}`)); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, resumed); ev.InstanceID != "c" || ev.Action != threadsclient.ActionCreate {
		t.Fatalf("next resumed event %+v, want c's create", ev)
	}
}
