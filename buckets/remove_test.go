package buckets

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads/db"
)

// TestRemoveUnreadableInstance: the DB's owner drops the buckets
// collection's schema and rewrites a bucket's instance into something that
// is not a bucket. Reading it is FailedPrecondition, but the owner can
// still remove the bucket: the instance and the record go, and so does the
// charge. Removing it again is NotExist, naming the bucket.
func TestRemoveUnreadableInstance(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "b")
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "f.txt", bytes.NewReader(randomBytes(t, 1<<16)), ""); err != nil {
		t.Fatal(err)
	}
	d, err := f.svc.dbs.DB(ctx, f.p, f.thread)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.UpdateCollection(ctx, f.p, db.CollectionConfig{Name: Collection}); err != nil {
		t.Fatal(err)
	}
	throughThreads(t, f, func(txn *db.Txn) error {
		return txn.Save(ctx, [][]byte{[]byte(`{"_id":"` + b.Key + `","path":42,"metadata":"all mine"}`)})
	})
	if _, err := f.svc.Get(ctx, f.p, f.thread, b.Key); !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("Get of the rewritten instance: %v; want FailedPrecondition", err)
	}

	if err := f.svc.Remove(ctx, f.p, f.thread, b.Key); err != nil {
		t.Fatalf("the owner's Remove of an unreadable instance: %v; want success", err)
	}
	if _, err := f.svc.recordOf(b.Key); !errors.Is(errors.NotExist, err) {
		t.Fatalf("record after Remove: %v; want none", err)
	}
	if _, err := f.svc.dbs.StoredInstance(ctx, f.thread, Collection, b.Key); !errors.Is(errors.NotExist, err) {
		t.Fatalf("instance after Remove: %v; want none", err)
	}
	if n, err := f.svc.StoredBytes(ctx, f.p.Account); err != nil || n != 0 {
		t.Fatalf("usage after Remove = %d, %v; want 0", n, err)
	}
	err = f.svc.Remove(ctx, f.p, f.thread, b.Key)
	if !errors.Is(errors.NotExist, err) || !strings.Contains(err.Error(), b.Key) {
		t.Fatalf("Remove again: %v; want NotExist naming %s", err, b.Key)
	}
}
