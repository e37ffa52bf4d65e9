package buckets

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
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

// TestBrokenBucketDoesNotStopCollection points a bucket at a root the hub
// does not hold (as its owner can, through ThreadDB): collection goes on,
// reports it, and still frees garbage.
func TestBrokenBucketDoesNotStopCollection(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	broken := f.create(t, "broken")
	f.create(t, "fine")
	d, err := f.svc.dbs.DB(ctx, f.p, f.thread)
	if err != nil {
		t.Fatal(err)
	}
	txn, err := d.WriteTxn(ctx, f.p, Collection)
	if err != nil {
		t.Fatal(err)
	}
	broken.Path = "/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi" // not in this hub
	doc, _ := json.Marshal(broken)
	if err := txn.Save(ctx, [][]byte{doc}); err != nil {
		t.Fatal(err)
	}
	if err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	st := collect(t, f.svc)
	if st.Roots != 1 || len(st.Broken) != 1 || st.Swept == 0 {
		t.Fatalf("collection: %+v; want one root, one broken bucket, and the orphaned blocks swept", st)
	}
	if _, err := f.svc.StoredBytes(ctx, f.p.Owner()); err != nil {
		t.Fatalf("usage with a broken bucket: %v", err)
	}
}
