package test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dshelp "github.com/ipfs/boxo/datastore/dshelp"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"google.golang.org/grpc"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
)

// s3Objects returns the files versitygw holds for the objects under
// prefix in bucket.
func s3Objects(t *testing.T, v *testhub.Versitygw, bucket, prefix string) []string {
	t.Helper()
	var files []string
	root := v.ObjectPath(bucket, prefix)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return files
}

// TestBucketsConformanceS3 runs the buckets conformance suite against a
// real hubd whose bucket blocks live in an S3 server (versitygw), and
// checks they went there, not to the repo.
func TestBucketsConformanceS3(t *testing.T) {
	v := testhub.StartVersitygw(t)
	v.CreateBucket(t, "hub")
	v.SetEnv(t)
	h := testhub.Start(t, func(c *daemon.Config) { c.Blocks = v.BlocksURL("hub", "conformance") })
	runBucketsConformance(t, h)
	if n := len(s3Objects(t, v, "hub", "conformance/blocks")); n == 0 {
		t.Fatal("no block objects in the S3 store after the suite")
	}
	if _, err := os.Stat(filepath.Join(h.Config.Repo, "blocks")); !os.IsNotExist(err) {
		t.Fatalf("the repo has a local blocks directory with --blocks s3://: %v", err)
	}
}

// blocksS3Hub is a child hubd whose bucket blocks live under a prefix of a
// versitygw bucket "hub", with a developer's buckets DB and one bucket.
type blocksS3Hub struct {
	v          *testhub.Versitygw
	bin        string
	args       []string // hubd's arguments: the same repo and store on every start
	p          *testhub.Process
	ctx        context.Context // the developer's key and DB
	bc         *bucketsclient.Client
	key, root  string // the bucket and its root
	objectsDir string // where versitygw keeps the prefix's block objects
}

func startBlocksS3Hub(t *testing.T, prefix string) *blocksS3Hub {
	t.Helper()
	h := &blocksS3Hub{v: testhub.StartVersitygw(t), bin: testhub.Build(t, "./cmd/hubd")}
	h.v.CreateBucket(t, "hub")
	h.args = append(hubdArgs(t.TempDir()), "--blocks", h.v.BlocksURL("hub", prefix))
	h.p = testhub.StartProcess(t, h.bin, h.v.Env(), h.args...)
	var conn *grpc.ClientConn
	h.ctx, conn = bucketsDB(t, h.p, "s3"+prefix)
	h.bc = bucketsclient.New(conn)
	created, err := h.bc.Create(h.ctx, prefix, bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.key, h.root = created.Root.Key, created.Root.Path
	h.objectsDir = h.v.ObjectPath("hub", prefix+"/blocks")
	return h
}

// restart starts hubd again on the same repo and store, with extra
// arguments, after a Stop or Kill.
func (h *blocksS3Hub) restart(t *testing.T, extra ...string) {
	t.Helper()
	h.p = testhub.StartProcess(t, h.bin, h.v.Env(), append(h.args, extra...)...)
	h.bc = bucketsclient.New(testhub.Dial(t, h.p.Addrs.API))
}

// TestBucketS3PushPull pushes and pulls through a child hubd started with
// --blocks s3://…, restarts it (the blocks are the store's, not the
// process's), then damages one object of the file: the pull fails with
// DataLoss, never returning the damaged bytes.
func TestBucketS3PushPull(t *testing.T) {
	h := startBlocksS3Hub(t, "pp")
	ctx, key := h.ctx, h.key
	data := randomData(5<<20 + 7) // several 1 MiB blocks
	if _, err := h.bc.PushPath(ctx, key, "big.bin", bytes.NewReader(data), h.root); err != nil {
		t.Fatal(err)
	}
	objects := s3Objects(t, h.v, "hub", "pp/blocks")
	if len(objects) < 6 {
		t.Fatalf("%d block objects after a 5 MiB push, want at least 6", len(objects))
	}
	if err := h.p.Stop(); err != nil {
		t.Fatal(err)
	}
	h.restart(t)
	bc := h.bc
	var out bytes.Buffer
	if _, err := bc.PullPath(ctx, key, "big.bin", &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("pull after restart: %v (equal %v)", err, bytes.Equal(out.Bytes(), data))
	}

	// Damage every 1 MiB object (the file's leaves) by one byte.
	damaged := 0
	for _, o := range objects {
		b, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 1<<20 {
			b[len(b)/2] ^= 1
			if err := os.WriteFile(o, b, 0o644); err != nil {
				t.Fatal(err)
			}
			damaged++
		}
	}
	if damaged == 0 {
		t.Fatal("no 1 MiB leaf object to damage")
	}
	out.Reset()
	_, err := bc.PullPath(ctx, key, "big.bin", &out)
	if !errors.Is(errors.DataLoss, err) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("pull of a damaged file: %v, want DataLoss saying the block is damaged", err)
	}
	if bytes.Contains(out.Bytes(), data[1<<20:2<<20]) {
		t.Fatal("the pull returned bytes of a damaged block")
	}
}

// faultProxy forwards S3 requests to a server and, while a fault is set,
// answers some block uploads itself: with 503 SlowDown, or by stalling
// until the client gives up.
type faultProxy struct {
	next http.Handler
	// mu guards fault, puts and injected.
	mu       sync.Mutex
	fault    string // "", "throttle" (every 3rd upload), "down" (every upload), "stall" (every 3rd upload)
	puts     int
	injected int
}

func (p *faultProxy) set(fault string) {
	p.mu.Lock()
	p.fault, p.puts = fault, 0
	p.mu.Unlock()
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	inject := ""
	if r.Method == http.MethodPut {
		p.puts++
		if p.fault == "down" || (p.fault != "" && p.puts%3 == 0) {
			inject = p.fault
			p.injected++
		}
	}
	p.mu.Unlock()
	switch inject {
	case "":
		p.next.ServeHTTP(w, r)
	case "stall":
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	default:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	}
}

// TestBucketS3Faults pushes through a proxy that throttles, stalls and
// then refuses block uploads: throttled and stalled uploads are retried
// and the push succeeds; a store that stays down fails the push, the
// bucket stays at its previous root, and every object in the store is a
// whole block.
func TestBucketS3Faults(t *testing.T) {
	v := testhub.StartVersitygw(t)
	v.CreateBucket(t, "hub")
	v.SetEnv(t)
	target, _ := url.Parse(v.Endpoint)
	proxy := &faultProxy{next: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	h := testhub.Start(t, func(c *daemon.Config) {
		c.Blocks = "s3://hub/faults?endpoint=" + srv.URL + "&path-style=true"
		c.BlocksTimeout = 2 * time.Second
	})
	w := newBucketsUser(t, h, "s3faults")
	created, err := w.bc.Create(w.ctx, "faults", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key, root := created.Root.Key, created.Root.Path
	for _, fault := range []string{"throttle", "stall"} {
		proxy.set(fault)
		data := randomData(4<<20 + 1)
		pushed, err := w.bc.PushPath(w.ctx, key, fault+".bin", bytes.NewReader(data), root)
		if err != nil {
			t.Fatalf("push with %s faults: %v", fault, err)
		}
		root = pushed.Root.Path
		var out bytes.Buffer
		if _, err := w.bc.PullPath(w.ctx, key, fault+".bin", &out); err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("pull after a push with %s faults: %v (equal %v)", fault, err, bytes.Equal(out.Bytes(), data))
		}
	}

	proxy.set("down")
	_, err = w.bc.PushPath(w.ctx, key, "lost.bin", bytes.NewReader(randomData(3<<20)), root)
	if !errors.Is(errors.Unavailable, err) || !strings.Contains(err.Error(), "SlowDown") {
		t.Fatalf("push to a store that refuses every upload: %v, want Unavailable naming the store's answer", err)
	}
	proxy.set("")
	if r, err := w.bc.Root(w.ctx, key); err != nil || r.Path != root {
		t.Fatalf("after a failed push the bucket is at %v (%v), want %s", r, err, root)
	}
	if _, err := w.bc.PullPath(w.ctx, key, "lost.bin", io.Discard); !errors.Is(errors.NotExist, err) {
		t.Fatalf("the failed push is visible: %v", err)
	}
	proxy.mu.Lock()
	injected := proxy.injected
	proxy.mu.Unlock()
	if injected < 3 {
		t.Fatalf("the proxy injected %d faults", injected)
	}
	// Every object is a whole block: its bytes hash to its name.
	objects := s3Objects(t, v, "hub", "faults/blocks")
	for _, o := range objects {
		b, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		mhash, err := dshelp.BinaryFromDsKey(ds.NewKey(filepath.Base(o)))
		if err != nil {
			t.Fatalf("object %s is not named by a multihash: %v", o, err)
		}
		if c := cid.NewCidV1(cid.Raw, mhash); !bytes.Equal(mustSum(t, c, b), mhash) {
			t.Fatalf("object %s does not hold the block it names", o)
		}
	}
}

// mustSum hashes b with the hash function of c.
func mustSum(t *testing.T, c cid.Cid, b []byte) []byte {
	t.Helper()
	got, err := c.Prefix().Sum(b)
	if err != nil {
		t.Fatal(err)
	}
	return got.Hash()
}

// TestBucketS3KillMidPush kills a hubd whose blocks are on S3 (SIGKILL)
// in the middle of a push: restarted, the bucket is at its last
// acknowledged root with its file whole, and garbage collection deletes
// the objects the interrupted push left.
func TestBucketS3KillMidPush(t *testing.T) {
	h := startBlocksS3Hub(t, "kill")
	ctx, key, bc := h.ctx, h.key, h.bc
	acked := randomData(2<<20 + 5)
	pushed, err := bc.PushPath(ctx, key, "acked.bin", bytes.NewReader(acked), h.root)
	if err != nil {
		t.Fatal(err)
	}
	objects := h.objectsDir
	kept := testhub.DirBytes(t, objects)

	// Kill once the push's blocks are reaching the store.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go bc.PushPath(pctx, key, "partial.bin", endlessReader{pctx}, "")
	deadline := time.Now().Add(time.Minute)
	for testhub.DirBytes(t, objects) < kept+4<<20 {
		if time.Now().After(deadline) {
			t.Fatal("the push stored less than 4 MiB in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.p.Kill()
	cancel()

	h.restart(t, "--gc-interval", "100ms")
	bc = h.bc
	root, err := bc.Root(ctx, key)
	if err != nil || root.Path != pushed.Root.Path {
		t.Fatalf("after the kill the bucket is at %v (%v), want the acknowledged root %s", root, err, pushed.Root.Path)
	}
	var out bytes.Buffer
	if _, err := bc.PullPath(ctx, key, "acked.bin", &out); err != nil || !bytes.Equal(out.Bytes(), acked) {
		t.Fatalf("acked.bin after the kill: %v (equal %v)", err, bytes.Equal(out.Bytes(), acked))
	}
	deadline = time.Now().Add(time.Minute)
	for testhub.DirBytes(t, objects) > kept {
		if time.Now().After(deadline) {
			t.Fatalf("the store still holds %d bytes a minute after restart, %d before the interrupted push", testhub.DirBytes(t, objects), kept)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out.Reset()
	if _, err := bc.PullPath(ctx, key, "acked.bin", &out); err != nil || !bytes.Equal(out.Bytes(), acked) {
		t.Fatalf("acked.bin after garbage collection: %v", err)
	}
}
