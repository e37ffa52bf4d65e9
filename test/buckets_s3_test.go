package test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/testhub"
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

// TestBucketS3PushPull pushes and pulls through a child hubd started with
// --blocks s3://…, restarts it (the blocks are the store's, not the
// process's), then damages one object of the file: the pull fails with
// DataLoss, never returning the damaged bytes.
func TestBucketS3PushPull(t *testing.T) {
	v := testhub.StartVersitygw(t)
	v.CreateBucket(t, "hub")
	bin := testhub.Build(t, "./cmd/hubd")
	repo := t.TempDir()
	args := append(hubdArgs(repo), "--blocks", v.BlocksURL("hub", "pp"))
	p := testhub.StartProcess(t, bin, v.Env(), args...)
	ctx, conn := bucketsDB(t, p, "s3pushpull")
	bc := bucketsclient.New(conn)
	created, err := bc.Create(ctx, "s3", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Root.Key
	data := randomData(5<<20 + 7) // several 1 MiB blocks
	if _, err := bc.PushPath(ctx, key, "big.bin", bytes.NewReader(data), created.Root.Path); err != nil {
		t.Fatal(err)
	}
	objects := s3Objects(t, v, "hub", "pp/blocks")
	if len(objects) < 6 {
		t.Fatalf("%d block objects after a 5 MiB push, want at least 6", len(objects))
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	p = testhub.StartProcess(t, bin, v.Env(), args...)
	bc = bucketsclient.New(testhub.Dial(t, p.Addrs.API))
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
	_, err = bc.PullPath(ctx, key, "big.bin", &out)
	if !errors.Is(errors.DataLoss, err) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("pull of a damaged file: %v, want DataLoss saying the block is damaged", err)
	}
	if bytes.Contains(out.Bytes(), data[1<<20:2<<20]) {
		t.Fatal("the pull returned bytes of a damaged block")
	}
}
