package test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
)

// TestBucketQuotaAndGC runs a hub with a quota and a fast collector: a push
// past the quota is refused with ResourceExhausted and changes nothing;
// removing a bucket frees its disk; the freed quota takes the next push.
func TestBucketQuotaAndGC(t *testing.T) {
	const quota = 8 << 20
	h := testhub.Start(t, func(c *daemon.Config) {
		c.BucketQuota = quota
		c.GCInterval = 50 * time.Millisecond
	})
	w := newBucketsUser(t, h, "quota")
	blocks := filepath.Join(h.Config.Repo, "blocks")
	b, err := w.bc.Create(w.ctx, "big", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data := randomData(6 << 20)
	pushed, err := w.bc.PushPath(w.ctx, b.Root.Key, "a.bin", bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := testhub.DirBytes(t, blocks); got < int64(len(data)) {
		t.Fatalf("blocks hold %d bytes after a %d-byte push", got, len(data))
	}

	_, err = w.bc.PushPath(w.ctx, b.Root.Key, "b.bin", bytes.NewReader(randomData(6<<20)), "")
	if !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("push past the quota: %v; want ResourceExhausted naming the quota", err)
	}
	root, err := w.bc.Root(w.ctx, b.Root.Key)
	if err != nil {
		t.Fatal(err)
	}
	if root.Path != pushed.Root.Path {
		t.Fatalf("refused push moved the root to %s", root.Path)
	}

	// The refused push's blocks and then the removed bucket's are freed.
	if err := w.bc.Remove(w.ctx, b.Root.Key); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for testhub.DirBytes(t, blocks) > 64<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("blocks still hold %d bytes 2 minutes after the only bucket was removed", testhub.DirBytes(t, blocks))
		}
		time.Sleep(50 * time.Millisecond)
	}

	again, err := w.bc.Create(w.ctx, "again", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.bc.PushPath(w.ctx, again.Root.Key, "b.bin", bytes.NewReader(randomData(6<<20)), ""); err != nil {
		t.Fatalf("push within the freed quota: %v", err)
	}
}
