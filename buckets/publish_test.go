package buckets

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub/errors"
)

// brokenPublisher fails every call, as a publisher whose store fails would.
type brokenPublisher struct{}

func (brokenPublisher) Publish(context.Context, crypto.PrivKey, cid.Cid) error {
	return errors.E(errors.Internal, "records store is down")
}

func (brokenPublisher) Unpublish(context.Context, string) error {
	return errors.E(errors.Internal, "records store is down")
}

// TestPublishFailureAfterCommit: a change that committed succeeds even
// when its IPNS record cannot be signed (the caller must not retry what
// was applied); the failure goes to the log.
func TestPublishFailureAfterCommit(t *testing.T) {
	var logged bytes.Buffer
	f := newFixtureConfig(t, Config{GatewayURL: "http://127.0.0.1:8006", Publisher: brokenPublisher{},
		Log: slog.New(slog.NewTextHandler(&logged, nil))})
	ctx := context.Background()
	b := f.create(t, "p")
	res, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "a.txt", strings.NewReader("a"), "")
	if err != nil {
		t.Fatalf("push whose record cannot be signed: %v; want success", err)
	}
	if cur, _ := f.svc.Get(ctx, f.p, f.thread, b.Key); cur.Path != res.Bucket.Path {
		t.Fatalf("bucket at %s, want the pushed root %s", cur.Path, res.Bucket.Path)
	}
	if err := f.svc.Remove(ctx, f.p, f.thread, b.Key); err != nil {
		t.Fatalf("remove whose record cannot be deleted: %v; want success", err)
	}
	if n := strings.Count(logged.String(), "records store is down"); n < 3 {
		t.Fatalf("%d failures logged, want the create's, the push's and the remove's:\n%s", n, logged.String())
	}
}
