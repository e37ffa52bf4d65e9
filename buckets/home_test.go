package buckets

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// TestCopiedInstanceIsNotTheBucket writes a copy of a bucket's instance
// into another DB through ThreadDB, as anyone may in their own DB: the copy
// must not act as the bucket (its IPNS key, its record of where it lives),
// and garbage collection and usage must ignore it.
func TestCopiedInstanceIsNotTheBucket(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	real := f.create(t, "real")
	other, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.dbs.NewDB(ctx, f.p, other, "other", nil, nil); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.dbs.DB(ctx, f.p, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ensureCollection(ctx, f.p, d); err != nil {
		t.Fatal(err)
	}
	fake := real
	fake.Path = "/ipfs/" + cid.NewCidV1(cid.Raw, mustRoot(real).Hash()).String() // junk: names no stored DAG
	doc, _ := json.Marshal(fake)
	txn, err := d.WriteTxn(ctx, f.p, Collection)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Create(ctx, [][]byte{doc}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	if _, err := f.svc.PushPath(ctx, f.p, other, real.Key, "x.txt", bytes.NewReader([]byte("x")), ""); !errors.Is(errors.NotExist, err) {
		t.Fatalf("push through the copy: %v; want NotExist", err)
	}
	if err := f.svc.Remove(ctx, f.p, other, real.Key); !errors.Is(errors.NotExist, err) {
		t.Fatalf("remove through the copy: %v; want NotExist", err)
	}
	if bkts, err := f.svc.List(ctx, f.p, other); err != nil || len(bkts) != 0 {
		t.Fatalf("List of the other DB = %v, %v; want no buckets", bkts, err)
	}
	st := collect(t, f.svc)
	if st.Roots != 1 || len(st.Broken) != 0 {
		t.Fatalf("collection: %+v; want the one real root and nothing broken", st)
	}
	// The real bucket is untouched and still takes changes.
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, real.Key, "x.txt", bytes.NewReader([]byte("x")), ""); err != nil {
		t.Fatal(err)
	}
	if g, err := f.svc.GatewayRoot(ctx, "", real.Key); err != nil || g.Thread != f.thread {
		t.Fatalf("GatewayRoot by key = %+v, %v; want the real bucket's DB", g, err)
	}
}

// TestThreadsAPIRootIsIgnored rewrites a bucket's instance through
// ThreadDB, as the DB's owner may: a root the hub did not record, and
// another owner. The bucket keeps its recorded root for the bucket API,
// collection and usage; the written root pins nothing and nobody else is
// charged.
func TestThreadsAPIRootIsIgnored(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "b")
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "f.txt", bytes.NewReader([]byte("kept")), ""); err != nil {
		t.Fatal(err)
	}
	cur, err := f.svc.Get(ctx, f.p, f.thread, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	used, err := f.svc.StoredBytes(ctx, f.p.Account)
	if err != nil {
		t.Fatal(err)
	}
	// Some other content, orphaned: only the written root would pin it.
	other := f.create(t, "other")
	if err := f.svc.Remove(ctx, f.p, f.thread, other.Key); err != nil {
		t.Fatal(err)
	}
	rewritten := cur
	rewritten.Path, rewritten.Owner = other.Path, "someone-else"
	saveThroughThreads(t, f, rewritten)

	st := collect(t, f.svc)
	if st.Roots != 1 || len(st.Broken) != 0 || st.Swept == 0 {
		t.Fatalf("collection: %+v; want the recorded root only, and the written root's blocks swept", st)
	}
	got, err := f.svc.Get(ctx, f.p, f.thread, b.Key)
	if err != nil || got.Path != cur.Path {
		t.Fatalf("Get = %s, %v; want the recorded root %s", got.Path, err, cur.Path)
	}
	var pulled bytes.Buffer
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "f.txt", &pulled); err != nil || pulled.String() != "kept" {
		t.Fatalf("PullPath = %q, %v; want the file at the recorded root", pulled.String(), err)
	}
	if now, err := f.svc.StoredBytes(ctx, f.p.Account); err != nil || now != used {
		t.Fatalf("usage after the rewrite = %d, %v; want %d", now, err, used)
	}
	if n, _ := f.svc.StoredBytes(ctx, "someone-else"); n != 0 {
		t.Fatalf("the written owner is charged %d bytes", n)
	}
	// The bucket still takes changes, from its recorded root.
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "g.txt", bytes.NewReader([]byte("g")), cur.Path); err != nil {
		t.Fatal(err)
	}
}

// saveThroughThreads writes b as its instance through ThreadDB, around
// the bucket service.
func saveThroughThreads(t *testing.T, f fixture, b Bucket) {
	t.Helper()
	doc, _ := json.Marshal(b)
	throughThreads(t, f, func(txn *db.Txn) error { return txn.Save(context.Background(), [][]byte{doc}) })
}

// throughThreads runs change in a committed write transaction on the
// fixture DB's buckets collection, as its owner, around the service.
func throughThreads(t *testing.T, f fixture, change func(*db.Txn) error) {
	t.Helper()
	if err := tryThroughThreads(f, change); err != nil {
		t.Fatal(err)
	}
}

// tryThroughThreads is throughThreads returning what failed.
func tryThroughThreads(f fixture, change func(*db.Txn) error) error {
	ctx := context.Background()
	d, err := f.svc.dbs.DB(ctx, f.p, f.thread)
	if err != nil {
		return err
	}
	txn, err := d.WriteTxn(ctx, f.p, Collection)
	if err != nil {
		return err
	}
	defer txn.Discard()
	if err := change(txn); err != nil {
		return err
	}
	return txn.Commit(ctx)
}

// TestBrokenBucketDoesNotStopCollection loses a bucket's root block (a
// damaged disk): collection goes on, reports it, and still frees garbage.
func TestBrokenBucketDoesNotStopCollection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	broken := f.create(t, "broken")
	f.create(t, "fine")
	gone := f.create(t, "gone")
	if err := f.svc.Remove(ctx, f.p, f.thread, gone.Key); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.blocks.DeleteBlock(ctx, mustRoot(broken)); err != nil {
		t.Fatal(err)
	}
	st := collect(t, f.svc)
	if st.Roots != 1 || len(st.Broken) != 1 || st.Swept == 0 {
		t.Fatalf("collection: %+v; want one root, one broken bucket, and the orphaned blocks swept", st)
	}
	if _, err := f.svc.StoredBytes(ctx, f.p.Account); err != nil {
		t.Fatalf("usage with a broken bucket: %v", err)
	}
}

// TestRemoveAfterInstanceDeleted deletes a bucket's instance through
// ThreadDB: the bucket stays charged (its record is the truth) until its
// DB's owner removes it through the service.
func TestRemoveAfterInstanceDeleted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "b")
	used, err := f.svc.StoredBytes(ctx, f.p.Account)
	if err != nil || used == 0 {
		t.Fatalf("usage = %d, %v", used, err)
	}
	throughThreads(t, f, func(txn *db.Txn) error { return txn.Delete(ctx, []string{b.Key}) })
	if n, _ := f.svc.StoredBytes(ctx, f.p.Account); n != used {
		t.Fatalf("usage after deleting the instance around the service = %d; want %d still charged", n, used)
	}
	if st := collect(t, f.svc); st.Roots != 1 {
		t.Fatalf("collection: %+v; want the recorded root kept", st)
	}
	if err := f.svc.Remove(ctx, f.p, f.thread, b.Key); err != nil {
		t.Fatalf("Remove by the DB's owner: %v", err)
	}
	if n, _ := f.svc.StoredBytes(ctx, f.p.Account); n != 0 {
		t.Fatalf("usage after Remove = %d; want 0", n)
	}
	if _, err := f.svc.GatewayRoot(ctx, "", b.Key); !errors.Is(errors.NotExist, err) {
		t.Fatalf("GatewayRoot after Remove: %v; want NotExist", err)
	}
}
