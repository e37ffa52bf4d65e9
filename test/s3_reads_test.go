package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
)

// TestS3ConditionalWrites checks If-Match on PutObject and CopyObject: a
// write against the object's ETag goes, one against another ETag is
// PreconditionFailed and one on a missing key NoSuchKey, each leaving the
// object as it was; conditional Complete is refused, not ignored.
func TestS3ConditionalWrites(t *testing.T) {
	h := startS3Hub(t)
	ctx, c := context.Background(), h.aws
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("cond")}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string, ifMatch *string) (*awss3.PutObjectOutput, error) {
		return c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("cond"), Key: aws.String(key), Body: strings.NewReader(body), IfMatch: ifMatch})
	}
	want := func(what, key, body string) {
		t.Helper()
		if got, _ := getBytes(t, c, "cond", key); string(got) != body {
			t.Fatalf("%s: %s holds %q, want %q", what, key, got, body)
		}
	}
	v1, err := put("doc", "version one", nil)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := put("doc", "version two", v1.ETag)
	if err != nil {
		t.Fatalf("PutObject If-Match the current ETag: %v", err)
	}
	want("a write If-Match the current ETag", "doc", "version two")
	_, err = put("doc", "version three", v1.ETag)
	wantS3Code(t, "PutObject If-Match an old ETag", err, "PreconditionFailed")
	want("a refused If-Match", "doc", "version two")
	_, err = put("none", "x", v2.ETag)
	wantS3Code(t, "PutObject If-Match on a missing key", err, "NoSuchKey")

	// A file the Hub API pushed has its CID as ETag, which If-Match takes.
	bc, bctx, bkey := h.hubBucket(t, "cond")
	pushed, err := bc.PushPath(bctx, bkey, "hub.txt", strings.NewReader("from the Hub API"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put("hub.txt", "replaced through S3", aws.String(`"`+pushed.Cid+`"`)); err != nil {
		t.Fatalf("PutObject If-Match a pushed file's CID: %v", err)
	}

	if _, err := put("src", "copied bytes", nil); err != nil {
		t.Fatal(err)
	}
	cp := func(ifMatch string) error {
		_, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("cond"), Key: aws.String("doc"),
			CopySource: aws.String("cond/src"), IfMatch: aws.String(ifMatch)})
		return err
	}
	wantS3Code(t, "CopyObject If-Match an old ETag", cp(*v1.ETag), "PreconditionFailed")
	want("a refused conditional copy", "doc", "version two")
	if err := cp(*v2.ETag); err != nil {
		t.Fatalf("CopyObject If-Match the destination's ETag: %v", err)
	}
	want("a conditional copy", "doc", "copied bytes")

	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("cond"), Key: aws.String("doc")})
	if err != nil {
		t.Fatal(err)
	}
	etag := uploadPart(t, c, "cond", "doc", *up.UploadId, 1, []byte("part"))
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("cond"), Key: aws.String("doc"), UploadId: up.UploadId,
		IfMatch: aws.String("*"), MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(etag)}}}})
	wantS3Code(t, "CompleteMultipartUpload with If-Match", err, "NotImplemented")
	want("a refused conditional Complete", "doc", "copied bytes")
}

// TestS3PartsAndRanges reads objects by partNumber and by range: the parts
// of a multipart object as uploaded (with its parts count), a single-part
// object as its own part 1, the errors S3 gives, and ranges all over a
// public and a private object that span blocks and (private) encrypted
// segments.
func TestS3PartsAndRanges(t *testing.T) {
	h := startS3Hub(t)
	ctx, c := context.Background(), h.aws
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("parts")}); err != nil {
		t.Fatal(err)
	}
	part1, part2 := bytes.Repeat([]byte{'a'}, 5<<20), bytes.Repeat([]byte("second part "), 100_000)
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	e1 := uploadPart(t, c, "parts", "mp", *up.UploadId, 1, part1)
	e2 := uploadPart(t, c, "parts", "mp", *up.UploadId, 2, part2)
	if _, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("parts"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(e1)}, {PartNumber: aws.Int32(2), ETag: aws.String(e2)}}}}); err != nil {
		t.Fatal(err)
	}
	size := len(part1) + len(part2)
	get, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("mp"), PartNumber: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, part2) || *get.PartsCount != 2 || *get.ContentRange != fmt.Sprintf("bytes %d-%d/%d", len(part1), size-1, size) {
		t.Fatalf("GetObject partNumber 2: %d bytes, %d parts, %s", len(got), *get.PartsCount, *get.ContentRange)
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("parts"), Key: aws.String("mp"), PartNumber: aws.Int32(1)})
	if err != nil || *head.ContentLength != int64(len(part1)) || *head.PartsCount != 2 {
		t.Fatalf("HeadObject partNumber 1: %v, %v", head, err)
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("mp"), PartNumber: aws.Int32(3)})
	wantS3Code(t, "GetObject partNumber past the parts", err, "InvalidPartNumber")

	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("parts"), Key: aws.String("whole"), Body: strings.NewReader("one piece")}); err != nil {
		t.Fatal(err)
	}
	get, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("whole"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(get.Body)
	get.Body.Close()
	if string(got) != "one piece" || get.PartsCount != nil {
		t.Fatalf("GetObject partNumber 1 of a single-part object: %q, parts count %v", got, get.PartsCount)
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("parts"), Key: aws.String("whole"), PartNumber: aws.Int32(2)})
	wantS3Code(t, "GetObject partNumber 2 of a single-part object", err, "InvalidPartNumber")
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.p.Addrs.S3+"/parts/whole?partNumber=1", nil)
	req.Header.Set("Range", "bytes=0-1")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	signer := v4.NewSigner()
	creds, _ := c.Options().Credentials.Retrieve(ctx)
	if err := signer.SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := rawCode(t, req); code != "InvalidRequest" {
		t.Fatalf("GetObject with Range and partNumber: %s, want InvalidRequest", code)
	}

	// Ranges over a public and a private object of 3 MiB and some: they
	// cross UnixFS blocks and, in the private bucket, encrypted segments.
	data := make([]byte, 3<<20+12345)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	bc, bctx, _ := h.hubBucket(t, "parts")
	if _, err := bc.Create(bctx, "secret-ranges", bucketsclient.CreateOptions{Private: true}); err != nil {
		t.Fatal(err)
	}
	for _, bucket := range []string{"parts", "secret-ranges"} {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("big"), Body: bytes.NewReader(data)}); err != nil {
			t.Fatalf("PutObject to %s: %v", bucket, err)
		}
		n := int64(len(data))
		for _, r := range [][2]int64{{0, 0}, {1, 262143}, {262143, 262144}, {1 << 20, 2<<20 + 17}, {n - 100, n - 1}, {65535, 65536 * 3}} {
			get, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big"), Range: aws.String(fmt.Sprintf("bytes=%d-%d", r[0], r[1]))})
			if err != nil {
				t.Fatalf("%s: range %v: %v", bucket, r, err)
			}
			got, _ := io.ReadAll(get.Body)
			get.Body.Close()
			if !bytes.Equal(got, data[r[0]:r[1]+1]) {
				t.Fatalf("%s: range %v: %d bytes that differ from the object's", bucket, r, len(got))
			}
		}
	}
}

// TestS3QuotaAndUsage pushes against the account's bucket quota through
// S3: a write that would pass it is QuotaExceeded and leaves the object
// and the bucket as they were; what S3 stores counts as bucket data and
// what GetObject sends as egress.
func TestS3QuotaAndUsage(t *testing.T) {
	h := startS3Hub(t, "--bucket-quota", fmt.Sprint(4<<20))
	ctx, c := context.Background(), h.aws
	conn := testhub.Dial(t, h.p.Addrs.API)
	usage := func() map[string]int64 {
		t.Helper()
		return usageOf(t, conn, h.ctx, "")
	}
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("metered")}); err != nil {
		t.Fatal(err)
	}
	before := usage()
	small := bytes.Repeat([]byte("m"), 1<<20)
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("metered"), Key: aws.String("keep"), Body: bytes.NewReader(small)}); err != nil {
		t.Fatal(err)
	}
	afterPut := usage()
	if afterPut["bucket_data"] < before["bucket_data"]+int64(len(small)) {
		t.Fatalf("bucket data %d after a 1 MiB PutObject, %d before", afterPut["bucket_data"], before["bucket_data"])
	}
	keys := func() string {
		t.Helper()
		list, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("metered")})
		if err != nil {
			t.Fatal(err)
		}
		return keysOf(list.Contents)
	}
	listed := keys()
	big := bytes.Repeat([]byte("q"), 5<<20)
	for _, key := range []string{"keep", "new"} {
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("metered"), Key: aws.String(key), Body: bytes.NewReader(big)})
		wantS3Code(t, "PutObject of "+key+" past the quota", err, "QuotaExceeded")
	}
	if got, _ := getBytes(t, c, "metered", "keep"); !bytes.Equal(got, small) {
		t.Fatalf("the object after a write refused for quota: %d bytes, want the 1 MiB put before", len(got))
	}
	if got := keys(); got != listed {
		t.Fatalf("the bucket after writes refused for quota lists %q, want %q", got, listed)
	}
	after := usage()
	if after["bucket_data"] != afterPut["bucket_data"] {
		t.Fatalf("bucket data %d after writes refused for quota, %d before them", after["bucket_data"], afterPut["bucket_data"])
	}
	if after["network_egress"] < afterPut["network_egress"]+int64(len(small)) {
		t.Fatalf("egress %d after a 1 MiB GetObject, %d before", after["network_egress"], afterPut["network_egress"])
	}
}

// TestS3DeleteObjectsOneChange listens to the bucket's instance in its DB
// while DeleteObjects removes three keys (and names a missing one, and one
// twice): the bucket changes once between two marker pushes, and the keys
// are gone.
func TestS3DeleteObjectsOneChange(t *testing.T) {
	h := startS3Hub(t)
	ctx, c := context.Background(), h.aws
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("batch")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a/1", "a/2", "b"} {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("batch"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	bc, bctx, bkey := h.hubBucket(t, "batch")
	conn := testhub.Dial(t, h.p.Addrs.API)
	dbs, err := threadsclient.New(conn).ListDBs(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var db threadsclient.ID
	for _, d := range dbs {
		if d.Name == "buckets" {
			db = d.ID
		}
	}
	events := make(chan threadsclient.ListenEvent, 100)
	lctx, stop := context.WithCancel(h.ctx)
	defer stop()
	go threadsclient.New(conn).Listen(lctx, db, []threadsclient.ListenFilter{{Collection: "buckets", InstanceID: bkey}}, 0, func(ev threadsclient.ListenEvent) error {
		events <- ev
		return nil
	})
	// upTo counts the changes that arrive up to the one that moved the
	// bucket to root, or returns 0 when none does within wait.
	upTo := func(root string, wait time.Duration) int {
		t.Helper()
		deadline := time.After(wait)
		for n := 1; ; n++ {
			select {
			case ev := <-events:
				var inst struct{ Path string }
				if err := json.Unmarshal(ev.Instance, &inst); err != nil {
					t.Fatalf("a change's instance: %v", err)
				}
				if inst.Path == root {
					return n
				}
			case <-deadline:
				return 0
			}
		}
	}
	marker := func(i int) string {
		t.Helper()
		pushed, err := bc.PushPath(bctx, bkey, "marker", strings.NewReader(fmt.Sprint(i)), "")
		if err != nil {
			t.Fatal(err)
		}
		return pushed.Root.Path
	}
	// A marker push, repeated until its change arrives: then the listener
	// is live, and every change after it is delivered, in order.
	for i := 0; upTo(marker(i), time.Second) == 0; i++ {
		if i == 60 {
			t.Fatal("no change of the bucket reached the listener within a minute")
		}
	}
	del, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("batch"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a/1")}, {Key: aws.String("a/2")}, {Key: aws.String("b")}, {Key: aws.String("missing")}, {Key: aws.String("b")}}}})
	if err != nil || len(del.Errors) != 0 || len(del.Deleted) != 4 {
		t.Fatalf("DeleteObjects: %v, %d deleted, errors %v", err, len(del.Deleted), del.Errors)
	}
	if n := upTo(marker(-1), time.Minute); n != 2 {
		t.Fatalf("%d changes of the bucket up to the marker after DeleteObjects (0: the marker's never came); want 2, the delete's and the marker's", n)
	}
	list, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("batch")})
	if err != nil || keysOf(list.Contents) != "marker" {
		t.Fatalf("the bucket after DeleteObjects lists %v, %v", keysOf(list.Contents), err)
	}
}
