package test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// dbOp is one threads call on a DB, made with the Go client. On the
// caller's own DB it must succeed (and leaves the DB as the next op needs
// it); on anybody else's it must fail as if the DB did not exist.
type dbOp struct {
	name string
	call func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, who string) error
}

// thing is an instance of the "things" collection every DB of the test has.
func thing(id string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"_id":%q,"n":1}`, id))
}

// errHeard ends a Listen that delivered a change.
var errHeard = errors.New("heard a change")

var dbOps = []dbOp{
	{"GetDBInfo", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		_, err := tc.GetDBInfo(ctx, db)
		return err
	}},
	{"ListCollections", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		_, err := tc.ListCollections(ctx, db)
		return err
	}},
	{"GetCollectionInfo", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		_, err := tc.GetCollectionInfo(ctx, db, "things")
		return err
	}},
	{"GetCollectionIndexes", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		_, err := tc.GetCollectionIndexes(ctx, db, "things")
		return err
	}},
	{"NewCollection and DeleteCollection", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, who string) error {
		if err := tc.NewCollection(ctx, db, threadsclient.CollectionConfig{Name: "scratch-" + who}); err != nil {
			return err
		}
		return tc.DeleteCollection(ctx, db, "scratch-"+who)
	}},
	{"UpdateCollection", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		return tc.UpdateCollection(ctx, db, threadsclient.CollectionConfig{Name: "things", Indexes: []threadsclient.Index{{Path: "n"}}})
	}},
	{"Create and Delete", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, who string) error {
		if _, err := tc.Create(ctx, db, "things", thing("tmp-"+who)); err != nil {
			return err
		}
		return tc.Delete(ctx, db, "things", "tmp-"+who)
	}},
	{"Delete", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		// Only ever reaches the server for someone else's DB (see below).
		return tc.Delete(ctx, db, "things", "seed")
	}},
	{"Save", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		return tc.Save(ctx, db, "things", thing("seed"))
	}},
	{"Verify", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		return tc.Verify(ctx, db, "things", thing("seed"))
	}},
	{"Has", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		ok, err := tc.Has(ctx, db, "things", "seed")
		if err == nil && !ok {
			err = errors.E(errors.Internal, "Has(seed) = false on the owner's DB")
		}
		return err
	}},
	{"Find", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		_, err := tc.Find(ctx, db, "things", nil)
		return err
	}},
	{"FindByID", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		_, err := tc.FindByID(ctx, db, "things", "seed")
		return err
	}},
	{"ReadTransaction", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		r, err := tc.ReadTransaction(ctx, db, "things")
		if err != nil {
			return err
		}
		if _, err := r.FindByID("seed"); err != nil {
			r.End()
			return err
		}
		return r.End()
	}},
	{"WriteTransaction", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		w, err := tc.WriteTransaction(ctx, db, "things")
		if err != nil {
			return err
		}
		if err := w.Save(thing("seed")); err != nil {
			w.Discard()
			return err
		}
		return w.End()
	}},
	{"Listen", func(ctx context.Context, tc *threadsclient.Client, db threadsclient.ID, _ string) error {
		// Admitted, Listen delivers at once the changes after the first
		// (the seed's create; the ops above made more), however long the
		// call takes to get there: the first one ends it.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		err := tc.Listen(ctx, db, nil, 1, func(threadsclient.ListenEvent) error { return errHeard })
		if err == errHeard {
			return nil
		}
		return err
	}},
}

// TestThreadsIsolation makes every threads call with every kind of
// principal on every principal's DB: on its own DB each call works, on
// another's it is NotExist, exactly as for a DB that does not exist, so
// DB IDs reveal nothing. Credentials that act as the same owner (a
// developer's session and account key; an org member's session with -o
// and the org's account key) share the owner's DBs.
func TestThreadsIsolation(t *testing.T) {
	h := testhub.Start(t, nil)
	w := newWorld(t, h)
	tc := w.tc
	userViaAlice := client.WithToken(testhub.WithKey(t, w.devUser), w.devToken)
	userViaOrg := client.WithToken(testhub.WithKey(t, w.orgUser), w.orgToken)
	principals := []struct {
		name string
		ctx  context.Context
		owns string // the name of the DB newWorld made for this owner
	}{
		{"alice", w.alice, "alice"},
		{"alice's account key", testhub.WithKey(t, w.devAcct), "alice"},
		{"bob", w.bob, "bob"},
		{"alice as the org", w.asOrg, "org"},
		{"the org's account key", testhub.WithKey(t, w.orgAcct), "org"},
		{"a user via alice's key", userViaAlice, "user-via-alice"},
		{"the same user via the org's key", userViaOrg, "user-via-org"},
	}

	// Find each owner's DB, and give it the things collection and a seed.
	dbs := map[string]threadsclient.ID{}
	for _, p := range principals {
		if _, ok := dbs[p.owns]; ok {
			continue
		}
		list, err := tc.ListDBs(p.ctx)
		if err != nil || len(list) != 1 || list[0].Name != p.owns {
			t.Fatalf("%s's DBs: %+v, %v; want only %q", p.name, list, err, p.owns)
		}
		db := list[0].ID
		dbs[p.owns] = db
		if err := tc.NewCollection(p.ctx, db, threadsclient.CollectionConfig{Name: "things"}); err != nil {
			t.Fatal(err)
		}
		if _, err := tc.Create(p.ctx, db, "things", thing("seed")); err != nil {
			t.Fatal(err)
		}
	}
	unknown, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	dbs["nobody"] = unknown

	for i, p := range principals {
		who := fmt.Sprintf("p%d", i) // names what each principal makes
		for owner, db := range dbs {
			own := owner == p.owns
			for _, op := range dbOps {
				if own && op.name == "Delete" {
					continue // it would remove the seed the other ops read
				}
				t.Run(fmt.Sprintf("%s/%s's DB/%s", p.name, owner, op.name), func(t *testing.T) {
					err := op.call(p.ctx, tc, db, who)
					if own {
						if err != nil {
							t.Fatalf("on its own DB: %v", err)
						}
						return
					}
					errorstest.WantKind(t, err, errors.NotExist, "not found")
				})
			}
		}
	}

	// Deleting: nobody but the owner can, and then the DB is gone for all.
	for _, p := range principals {
		for owner, db := range dbs {
			if owner == p.owns || owner == "nobody" {
				continue
			}
			errorstest.WantKind(t, tc.DeleteDB(p.ctx, db), errors.NotExist, "not found")
		}
	}
	deleted := map[string]bool{}
	for _, p := range principals {
		if deleted[p.owns] {
			continue
		}
		if err := tc.DeleteDB(p.ctx, dbs[p.owns]); err != nil {
			t.Fatalf("%s deleting its DB: %v", p.name, err)
		}
		deleted[p.owns] = true
	}
	for _, p := range principals {
		list, err := tc.ListDBs(p.ctx)
		if err != nil || len(list) != 0 {
			t.Errorf("%s's DBs after the deletes: %+v, %v", p.name, list, err)
		}
		_, err = tc.GetDBInfo(p.ctx, dbs[p.owns])
		errorstest.WantKind(t, err, errors.NotExist, "not found")
	}
}
