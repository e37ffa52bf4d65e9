package buckets

import (
	"bytes"
	"context"
	"testing"

	"github.com/selfhub/hub/errors"
)

func TestQuota(t *testing.T) {
	const quota = 3 << 20
	f := newFixtureConfig(t, Config{GatewayURL: "http://127.0.0.1:8006", Quota: quota})
	ctx := context.Background()
	b := f.create(t, "q")
	first := randomBytes(t, 2<<20)
	res, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "first.bin", bytes.NewReader(first), "")
	if err != nil {
		t.Fatal(err)
	}
	used, err := f.svc.StoredBytes(ctx, f.p.Owner())
	if err != nil {
		t.Fatal(err)
	}
	if used < int64(len(first)) || used > int64(len(first))+4096 {
		t.Fatalf("StoredBytes = %d after pushing %d bytes", used, len(first))
	}

	// A push past the quota fails while streaming and leaves the bucket.
	_, err = f.svc.PushPath(ctx, f.p, f.thread, b.Key, "second.bin", bytes.NewReader(randomBytes(t, 2<<20)), "")
	if !errors.Is(errors.Exhausted, err) {
		t.Fatalf("push past the quota: %v; want Exhausted", err)
	}
	cur, err := f.svc.Get(ctx, f.p, f.thread, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Path != res.Bucket.Path {
		t.Fatalf("a refused push moved the root from %s to %s", res.Bucket.Path, cur.Path)
	}
	// So does a batch, and linking a big existing DAG (SetPath).
	bt, err := f.svc.NewBatch(ctx, f.p, f.thread, b.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bt.Add(ctx, "batch.bin", bytes.NewReader(randomBytes(t, 2<<20))); !errors.Is(errors.Exhausted, err) {
		t.Fatalf("batch file past the quota: %v; want Exhausted", err)
	}
	bt.Discard()
	if _, err := f.svc.SetPath(ctx, f.p, f.thread, b.Key, "copy.bin", res.Cid); !errors.Is(errors.Exhausted, err) {
		t.Fatalf("SetPath doubling the usage past the quota: %v; want Exhausted", err)
	}
	if again, _ := f.svc.StoredBytes(ctx, f.p.Owner()); again != used {
		t.Fatalf("refused changes moved StoredBytes from %d to %d", used, again)
	}

	// Freeing space lets the next push in; a collection agrees with the
	// running figure.
	if _, err := f.svc.RemovePath(ctx, f.p, f.thread, b.Key, "first.bin", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "second.bin", bytes.NewReader(randomBytes(t, 2<<20)), ""); err != nil {
		t.Fatalf("push after freeing space: %v", err)
	}
	running, _ := f.svc.StoredBytes(ctx, f.p.Owner())
	collect(t, f.svc)
	scanned, _ := f.svc.StoredBytes(ctx, f.p.Owner())
	if running != scanned {
		t.Fatalf("running usage %d, scanned %d", running, scanned)
	}
	if err := f.svc.Remove(ctx, f.p, f.thread, b.Key); err != nil {
		t.Fatal(err)
	}
	if left, _ := f.svc.StoredBytes(ctx, f.p.Owner()); left != 0 {
		t.Fatalf("StoredBytes = %d with no bucket left", left)
	}
}
