package buckets

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// hostileFilter is a read filter that fails every read.
const hostileFilter = `throw new Error("x")`

// setReadFilter gives the fixture DB's buckets collection a read filter,
// as its owner may through the threads API.
func setReadFilter(t *testing.T, f fixture, filter string) {
	t.Helper()
	ctx := context.Background()
	d, err := f.svc.dbs.DB(ctx, f.p, f.thread)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UpdateCollection(ctx, f.p, db.CollectionConfig{Name: Collection, ReadFilter: filter}); err != nil {
		t.Fatal(err)
	}
}

// TestHubWideWorkRunsNoTenantCode gives a DB's buckets collection a read
// filter that throws: collection, usage, the gateway's lookups, IPNS
// re-signing and a restarted service still see every bucket, and another
// account's buckets still work.
func TestHubWideWorkRunsNoTenantCode(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pub := f.create(t, "pub")
	priv, _, err := f.svc.Create(ctx, f.p, f.thread, "priv", true, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, priv.Key, "secret.txt", bytes.NewReader([]byte("s")), ""); err != nil {
		t.Fatal(err)
	}
	used, err := f.svc.StoredBytes(ctx, f.p.Account)
	if err != nil {
		t.Fatal(err)
	}
	setReadFilter(t, f, hostileFilter)
	if _, err := f.svc.Get(ctx, f.p, f.thread, pub.Key); err == nil {
		t.Fatal("the bucket API read through the throwing filter; the test sets no filter")
	}

	if st := collect(t, f.svc); st.Roots != 2 || len(st.Broken) != 0 {
		t.Fatalf("collection: %+v; want both roots", st)
	}
	if g, err := f.svc.GatewayRoot(ctx, f.thread, pub.Key); err != nil || !g.Root.Equals(mustRoot(pub)) {
		t.Fatalf("GatewayRoot = %+v, %v; want the bucket's root", g, err)
	}
	if err := f.svc.Republish(ctx, pub.Key); err != nil {
		t.Fatalf("Republish: %v", err)
	}
	if g, err := f.svc.GatewayRoot(ctx, "", priv.Key); err != nil || !g.Private || g.Account != f.p.Account {
		t.Fatalf("GatewayRoot of the private bucket = %+v, %v; want it private, of the fixture's account", g, err)
	}

	// A service started again over the same store (a restart) loads the
	// usage without reading any collection, and serves another account.
	again := New(f.svc.cfg, f.svc.dbs, f.svc.st, f.svc.blocks)
	if n, err := again.StoredBytes(ctx, f.p.Account); err != nil || n != used {
		t.Fatalf("usage after a restart = %d, %v; want %d", n, err, used)
	}
	g := fixture{svc: again, p: hub.Principal{Kind: hub.DeveloperPrincipal, Account: "other"}, thread: newDB(t, again, hub.Principal{Kind: hub.DeveloperPrincipal, Account: "other"})}
	b := g.create(t, "fine")
	if _, err := again.PushPath(ctx, g.p, g.thread, b.Key, "f.txt", bytes.NewReader([]byte("f")), ""); err != nil {
		t.Fatal(err)
	}
	if st := collect(t, again); st.Roots != 3 {
		t.Fatalf("collection after a restart: %+v; want three roots", st)
	}
}

// newDB makes a DB for p in s's manager.
func newDB(t *testing.T, s *Service, p hub.Principal) threads.ID {
	t.Helper()
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.dbs.NewDB(context.Background(), p, id, "", nil, nil); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestQuotaPerAccount pushes as several identities of one app: they share
// the app's quota, and another account's is untouched.
func TestQuotaPerAccount(t *testing.T) {
	const quota = 3<<20 + 1<<19 // three pushes of 1 MiB, not four
	f := newFixtureConfig(t, Config{Quota: quota})
	ctx := context.Background()
	push := func(p hub.Principal) error {
		thread := newDB(t, f.svc, p)
		b, _, err := f.svc.Create(ctx, p, thread, "b", false, cid.Undef)
		if err != nil {
			return err
		}
		_, err = f.svc.PushPath(ctx, p, thread, b.Key, "f.bin", bytes.NewReader(randomBytes(t, 1<<20)), "")
		return err
	}
	user := func(account, id string) hub.Principal {
		return hub.Principal{Kind: hub.UserPrincipal, Account: hub.PubKey(account), Identity: hub.PubKey(id)}
	}
	for i, id := range []string{"u1", "u2"} {
		if err := push(user("app", id)); err != nil {
			t.Fatalf("identity %d: %v", i, err)
		}
	}
	if err := push(user("app", "u3")); err != nil {
		t.Fatalf("third identity, just within the quota: %v", err)
	}
	if err := push(user("app", "u4")); !errors.Is(errors.Exhausted, err) {
		t.Fatalf("fourth identity past the app's quota: %v; want Exhausted", err)
	}
	if n, _ := f.svc.StoredBytes(ctx, "app"); n > quota {
		t.Fatalf("the app stores %d bytes, past its quota of %d", n, quota)
	}
	for _, id := range []hub.PubKey{"u1", "u2", "u3"} {
		if n, _ := f.svc.StoredBytes(ctx, id); n != 0 {
			t.Fatalf("identity %s is charged %d bytes; the app should be", id, n)
		}
	}
	if err := push(user("other-app", "v1")); err != nil {
		t.Fatalf("another app: %v", err)
	}
}

// TestRecordBuckets turns a store from before the records back into one:
// the records are made again, equal to the ones the service wrote, without
// running the DB owner's read filter; a bucket recorded already (by a run
// that stopped midway) is left as it is, and a second run finds nothing
// to do.
func TestRecordBuckets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "b")
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "f.txt", bytes.NewReader([]byte("f")), ""); err != nil {
		t.Fatal(err)
	}
	gone := f.create(t, "gone")
	want, err := f.svc.recordOf(b.Key)
	if err != nil {
		t.Fatal(err)
	}
	// A third bucket stands for one a run that was stopped had recorded:
	// the next run leaves it as it is.
	done := f.create(t, "done")
	wantDone, err := f.svc.recordOf(done.Key)
	if err != nil {
		t.Fatal(err)
	}
	setReadFilter(t, f, hostileFilter)
	// Back to the old layout; the instance of gone is removed around the
	// service.
	old := f.svc.st.NewBatch()
	for _, k := range []string{b.Key, gone.Key} {
		old.Delete(recordKey(k))
		old.PutRaw(legacyDBKey(k), []byte(f.thread))
	}
	if err := old.Commit(); err != nil {
		t.Fatal(err)
	}
	throughThreads(t, f, func(txn *db.Txn) error { return txn.Delete(ctx, []string{gone.Key}) })
	marker := f.svc.st.NewBatch()
	marker.PutRaw(recordsDoneKey(), nil) // what hubs before format versions wrote at the end
	if err := marker.Commit(); err != nil {
		t.Fatal(err)
	}

	s := f.svc
	log := slog.New(slog.DiscardHandler)
	if n, err := RecordBuckets(ctx, f.svc.st, f.svc.dbs, f.svc.blocks, log); err != nil || n != 1 {
		t.Fatalf("RecordBuckets = %d, %v; want 1 bucket recorded", n, err)
	}
	if got, err := s.recordOf(b.Key); err != nil || got != want {
		t.Fatalf("record = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.recordOf(done.Key); err != nil || got != wantDone {
		t.Fatalf("record of the bucket recorded before = %+v, %v; want %+v", got, err, wantDone)
	}
	if _, err := s.recordOf(gone.Key); !errors.Is(errors.NotExist, err) {
		t.Fatalf("record of a bucket with no instance: %v; want none", err)
	}
	for _, k := range []string{b.Key, gone.Key} {
		if ok, _ := s.st.Has(legacyDBKey(k)); ok {
			t.Fatalf("the old key of %s is left", k)
		}
	}
	if ok, _ := s.st.Has(ipnsKeyKey(gone.Key)); ok {
		t.Fatal("the IPNS key of a dropped bucket is left")
	}
	if n, err := RecordBuckets(ctx, f.svc.st, f.svc.dbs, f.svc.blocks, log); err != nil || n != 0 {
		t.Fatalf("RecordBuckets again = %d, %v; want nothing to do", n, err)
	}
	if ok, _ := s.st.Has(recordsDoneKey()); ok {
		t.Fatal("the old done-marker is left")
	}
	if st := collect(t, s); st.Roots != 2 || len(st.Broken) != 0 {
		t.Fatalf("collection after recording: %+v; want two roots", st)
	}
}
