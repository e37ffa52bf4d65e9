package test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/selfhub/hub/test/testhub"
)

// TestS3CrossVisibility checks that S3, the hub CLI (the built binary),
// the Hub API and the gateway see one bucket: an object put through S3 is
// pulled by `hub buck pull` into a folder and read at the gateway's
// bucket URL, byte for byte; a file `hub buck push` sends is read through
// S3 (whole, by range and by HEAD, with its CID), and its gateway bytes
// match.
func TestS3CrossVisibility(t *testing.T) {
	h := startS3Hub(t)
	hubBin := testhub.Build(t, "./cmd/hub")
	ctx, c := context.Background(), h.aws
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	fromS3 := bytes.Repeat([]byte("put through S3\n"), 100_000) // 1.5 MB: several blocks
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("docs/from-s3.txt"), Body: bytes.NewReader(fromS3)})
	if err != nil {
		t.Fatal(err)
	}
	bc, bctx, bkey := h.hubBucket(t, "shared")

	// hub buck, as a subprocess acting with the developer's session.
	home, dir := t.TempDir(), t.TempDir()
	buck := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(hubBin, append([]string{"buck", "--dir", dir}, args...)...)
		cmd.Env = []string{"HUB_HOME=" + home, "HUB_API=" + h.p.Addrs.API, "HUB_SESSION=" + h.sess}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("hub buck %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}
	buck("init", "--existing", bkey)
	buck("pull")
	got, err := os.ReadFile(filepath.Join(dir, "docs", "from-s3.txt"))
	if err != nil || !bytes.Equal(got, fromS3) {
		t.Fatalf("hub buck pull of an S3 object: %d bytes, %v; want %d", len(got), err, len(fromS3))
	}

	// The gateway serves the bucket's URL for the same path.
	gateway := func(p string) []byte {
		t.Helper()
		links, err := bc.Links(bctx, bkey, p)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(links.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("gateway GET %s: %s, %v", links.URL, resp.Status, err)
		}
		return b
	}
	if got := gateway("docs/from-s3.txt"); !bytes.Equal(got, fromS3) {
		t.Fatalf("gateway read of an S3 object: %d bytes, want %d", len(got), len(fromS3))
	}

	// A file hub buck pushes, S3 reads.
	fromCLI := bytes.Repeat([]byte("pushed by hub buck\n"), 200_000) // 3.8 MB
	if err := os.MkdirAll(filepath.Join(dir, "cli"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cli", "big.txt"), fromCLI, 0o644); err != nil {
		t.Fatal(err)
	}
	buck("push")
	got, out := getBytes(t, c, "shared", "cli/big.txt")
	if !bytes.Equal(got, fromCLI) {
		t.Fatalf("GetObject of a file hub buck pushed: %d bytes, want %d", len(got), len(fromCLI))
	}
	it, _, err := bc.ListPath(bctx, bkey, "cli/big.txt")
	if err != nil {
		t.Fatal(err)
	}
	if *out.ETag != `"`+it.Cid+`"` {
		t.Fatalf("GetObject of a pushed file: ETag %s, want its CID %s", *out.ETag, it.Cid)
	}
	rng, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("cli/big.txt"), Range: aws.String("bytes=2000000-2000099")})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rng.Body)
	rng.Body.Close()
	if !bytes.Equal(part, fromCLI[2_000_000:2_000_100]) {
		t.Fatalf("ranged GetObject of a pushed file: %q", part)
	}
	if got := gateway("cli/big.txt"); !bytes.Equal(got, fromCLI) {
		t.Fatalf("gateway read of a pushed file: %d bytes, want %d", len(got), len(fromCLI))
	}
	// The S3 object is still as S3 wrote it, with its MD5 ETag, after the
	// CLI's change of the bucket.
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("shared"), Key: aws.String("docs/from-s3.txt")})
	if err != nil || *head.ETag != *put.ETag {
		t.Fatalf("HeadObject of the S3 object after a CLI push: %v, %v; want ETag %s", head, err, *put.ETag)
	}
}
