package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/test/testhub"
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

// bucketsProcess starts hubd as a child on repo and makes a buckets DB
// on it (bucketsDB): it returns the process, a connection, and a context
// with the key naming the DB.
func bucketsProcess(t *testing.T, bin, repo, name string) (*testhub.Process, *grpc.ClientConn, context.Context) {
	t.Helper()
	p := testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
	ctx, conn := bucketsDB(t, p, name)
	return p, conn, ctx
}

// bucketsDB signs up a developer on p with an account key and makes it a
// DB named "buckets": it returns a context with the key naming the DB and
// a connection.
func bucketsDB(t *testing.T, p *testhub.Process, name string) (context.Context, *grpc.ClientConn) {
	t.Helper()
	conn := testhub.Dial(t, p.Addrs.API)
	sctx, _ := signup(t, hubclient.New(conn), name)
	k, err := hubclient.New(conn).CreateKey(sctx, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	kctx := testhub.WithKey(t, k)
	id, err := threadsclient.New(conn).NewDB(kctx, "", threadsclient.DBOptions{Name: "buckets"})
	if err != nil {
		t.Fatal(err)
	}
	return client.WithThread(kctx, id.String()), conn
}

// TestBucketPushSurvivesKill kills hubd (SIGKILL) in the middle of a push
// of many MiB, and again right after a push is acknowledged. After each
// restart the bucket is at the last acknowledged root, its files are whole,
// and it takes new pushes.
func TestBucketPushSurvivesKill(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	repo := t.TempDir()
	p, conn, ctx := bucketsProcess(t, bin, repo, "crashy")
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
	case <-time.After(2 * time.Minute):
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

// TestBucketStateSurvivesKill kills hubd (SIGKILL) while several callers
// create, push to and remove buckets, then reads what the restarted hub
// holds: every bucket instance has the hub's record and IPNS key, and
// every record and key has its instance. A bucket's raw keys are written
// in the commit that writes its instance, so no crash splits them.
func TestBucketStateSurvivesKill(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	repo := t.TempDir()
	p, conn, dbCtx := bucketsProcess(t, bin, repo, "churn")
	ctx, cancel := context.WithCancel(dbCtx)
	defer cancel()
	bc := bucketsclient.New(conn)

	// Each caller creates a bucket, pushes a file to it and removes every
	// other one, until the hub dies under it.
	const callers, enough = 4, 40
	acked := make(chan struct{}, callers*enough)
	for c := range callers {
		go func() {
			for i := 0; ctx.Err() == nil; i++ {
				b, err := bc.Create(ctx, "churn", bucketsclient.CreateOptions{})
				if err != nil {
					return
				}
				acked <- struct{}{}
				if _, err := bc.PushPath(ctx, b.Root.Key, "f.txt", bytes.NewReader([]byte("f")), b.Root.Path); err != nil {
					return
				}
				if (c+i)%2 == 0 {
					if err := bc.Remove(ctx, b.Root.Key); err != nil {
						return
					}
				}
			}
		}()
	}
	for range enough {
		select {
		case <-acked:
		case <-time.After(2 * time.Minute):
			t.Fatal("the callers stopped getting buckets made")
		}
	}
	p.Kill()
	cancel()

	p = testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
	list, err := bucketsclient.New(testhub.Dial(t, p.Addrs.API)).List(dbCtx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	instances := map[string]bool{}
	for _, b := range list {
		instances[b.Key] = true
	}
	st, err := store.Open(filepath.Join(repo, "store"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, prefix := range []string{store.BucketRecords, store.BucketKeys} {
		raw := map[string]bool{}
		pfx := store.Key(prefix, "")
		if err := st.Scan(pfx, func(k, _ []byte) error { raw[string(k[len(pfx):])] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		for key := range instances {
			if !raw[key] {
				t.Errorf("bucket %s has an instance and no %s key", key, prefix)
			}
		}
		for key := range raw {
			if !instances[key] {
				t.Errorf("bucket %s has a %s key and no instance", key, prefix)
			}
		}
		t.Logf("%d buckets, %d %s keys", len(instances), len(raw), prefix)
	}
}
