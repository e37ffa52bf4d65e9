package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/testhub"
)

// endlessReader yields random bytes until stop is closed, then blocks
// until the call's context ends.
type endlessReader struct{ ctx context.Context }

func (r endlessReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n := min(len(p), 64<<10)
	rand.Read(p[:n])
	return n, nil
}

// TestBucketPushSurvivesKill kills hubd (SIGKILL) in the middle of a push
// of many MiB, and again right after a push is acknowledged. After each
// restart the bucket is at the last acknowledged root, its files are whole,
// and it takes new pushes.
func TestBucketPushSurvivesKill(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	repo := t.TempDir()
	p := testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
	conn := testhub.Dial(t, p.Addrs.API)
	sctx, _ := signup(t, hubclient.New(conn), "crashy")
	k, err := hubclient.New(conn).CreateKey(sctx, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	kctx := testhub.WithKey(t, k)
	id, err := threadsclient.New(conn).NewDB(kctx, "", threadsclient.DBOptions{Name: "buckets"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := client.WithThread(kctx, id.String())
	bc := bucketsclient.New(conn)
	created, err := bc.Create(ctx, "crash", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Root.Key
	acked := randomData(3<<20 + 5)
	pushed, err := bc.PushPath(ctx, key, "acked.bin", bytes.NewReader(acked), created.Root.Path)
	if err != nil {
		t.Fatal(err)
	}

	// Kill in the middle of a push, once the hub has taken 8 MiB of it.
	pctx, cancel := context.WithCancel(ctx)
	reached := make(chan struct{})
	var once bool
	go func() {
		bc.PushPathProgress(pctx, key, "partial.bin", endlessReader{pctx}, "", func(n int64) {
			if n >= 8<<20 && !once {
				once = true
				close(reached)
			}
		})
	}()
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the push never reached 8 MiB")
	}
	p.Kill()
	cancel()

	check := func(when string) *bucketsclient.Client {
		t.Helper()
		p = testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
		bc := bucketsclient.New(testhub.Dial(t, p.Addrs.API))
		root, err := bc.Root(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if root.Path != pushed.Root.Path {
			t.Fatalf("%s: bucket at %s, want the last acknowledged root %s", when, root.Path, pushed.Root.Path)
		}
		var out bytes.Buffer
		if _, err := bc.PullPath(ctx, key, "acked.bin", &out); err != nil || !bytes.Equal(out.Bytes(), acked) {
			t.Fatalf("%s: acked.bin: %v (equal %v)", when, err, bytes.Equal(out.Bytes(), acked))
		}
		if _, err := bc.PullPath(ctx, key, "partial.bin", io.Discard); !errors.Is(errors.NotExist, err) {
			t.Fatalf("%s: the interrupted push is visible: %v", when, err)
		}
		return bc
	}
	bc = check("after a kill mid-push")

	// Kill right after an acknowledged push: it is there after the restart.
	acked = randomData(1<<20 + 3)
	pushed, err = bc.PushPath(ctx, key, "acked.bin", bytes.NewReader(acked), pushed.Root.Path)
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	check("after a kill right after an acknowledged push")
}
