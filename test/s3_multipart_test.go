package test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	bucketsclient "github.com/selfhub/hub/client/buckets"

	"github.com/selfhub/hub/test/testhub"
)

const mib = 1 << 20

// multipartETag is S3's ETag of a multipart object: the MD5 of the parts'
// MD5s, with "-<parts>".
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(parts))
}

func uploadPart(t *testing.T, c *awss3.Client, bucket, key, id string, n int32, data []byte) string {
	t.Helper()
	out, err := c.UploadPart(context.Background(), &awss3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: aws.String(id), PartNumber: aws.Int32(n), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("UploadPart %d: %v", n, err)
	}
	return *out.ETag
}

func getBytes(t *testing.T, c *awss3.Client, bucket, key string) ([]byte, *awss3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	b, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return b, out
}

// TestS3Multipart drives every multipart call with the AWS SDK: a part
// uploaded twice (the second wins), UploadPartCopy of a range, ListParts,
// ListMultipartUploads, Abort, the errors S3 clients expect, and the
// assembled object as the Hub API reads it.
func TestS3Multipart(t *testing.T) {
	h := startS3Hub(t)
	ctx, c := context.Background(), h.aws
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("mpu")}); err != nil {
		t.Fatal(err)
	}
	src := randomData(3 * mib)
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("mpu"), Key: aws.String("src.bin"), Body: bytes.NewReader(src)}); err != nil {
		t.Fatal(err)
	}
	cr, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj.bin"),
		ContentType: aws.String("application/x-big"), Metadata: map[string]string{"origin": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	id := *cr.UploadId
	p1 := randomData(5 * mib)
	p2 := randomData(5*mib + 123)
	uploadPart(t, c, "mpu", "big/obj.bin", id, 1, randomData(5*mib)) // replaced below
	e1 := uploadPart(t, c, "mpu", "big/obj.bin", id, 1, p1)
	e2 := uploadPart(t, c, "mpu", "big/obj.bin", id, 2, p2)
	cp, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj.bin"), UploadId: aws.String(id),
		PartNumber: aws.Int32(3), CopySource: aws.String("mpu/src.bin"), CopySourceRange: aws.String("bytes=1000-1001999")})
	if err != nil {
		t.Fatal(err)
	}
	p3 := src[1000:1002000]
	if want := `"` + md5hex(p3) + `"`; *cp.CopyPartResult.ETag != want {
		t.Fatalf("UploadPartCopy ETag %s, want %s", *cp.CopyPartResult.ETag, want)
	}
	if e1 != `"`+md5hex(p1)+`"` {
		t.Fatalf("UploadPart ETag %s after a retry, want the second body's MD5", e1)
	}

	lp, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj.bin"), UploadId: aws.String(id), MaxParts: aws.Int32(2)})
	if err != nil || len(lp.Parts) != 2 || !*lp.IsTruncated || *lp.Parts[1].Size != int64(len(p2)) || *lp.Parts[0].ETag != e1 {
		t.Fatalf("ListParts: %+v, %v", lp, err)
	}
	lp, err = c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj.bin"), UploadId: aws.String(id), PartNumberMarker: lp.NextPartNumberMarker})
	if err != nil || len(lp.Parts) != 1 || *lp.Parts[0].PartNumber != 3 {
		t.Fatalf("ListParts from the marker: %+v, %v", lp, err)
	}
	other, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("a-other")})
	if err != nil {
		t.Fatal(err)
	}
	lu, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("mpu")})
	if err != nil || len(lu.Uploads) != 2 || *lu.Uploads[0].Key != "a-other" || *lu.Uploads[1].UploadId != id {
		t.Fatalf("ListMultipartUploads: %+v, %v", lu, err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("a-other"), UploadId: other.UploadId}); err != nil {
		t.Fatal(err)
	}
	_, err = c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("a-other"), UploadId: other.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantS3Code(t, "UploadPart to an aborted upload", err, "NoSuchUpload")
	_, err = c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj.bin"), UploadId: aws.String(id), PartNumber: aws.Int32(10001), Body: strings.NewReader("x")})
	wantS3Code(t, "UploadPart number 10001", err, "InvalidArgument")

	complete := func(parts ...types.CompletedPart) (*awss3.CompleteMultipartUploadOutput, error) {
		return c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj.bin"), UploadId: aws.String(id),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	}
	part := func(n int32, etag string) types.CompletedPart {
		return types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etag)}
	}
	_, err = complete(part(2, e2), part(1, e1))
	wantS3Code(t, "Complete with parts out of order", err, "InvalidPartOrder")
	_, err = complete(part(1, e1), part(2, `"`+md5hex([]byte("no"))+`"`))
	wantS3Code(t, "Complete with a wrong ETag", err, "InvalidPart")
	_, err = complete(part(1, e1), part(4, e2))
	wantS3Code(t, "Complete with a part never uploaded", err, "InvalidPart")
	// Parts 1, 3 (1 MB, not last) and 2: EntityTooSmall.
	if _, err := c.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{Bucket: aws.String("mpu"), Key: aws.String("big/obj.bin"), UploadId: aws.String(id),
		PartNumber: aws.Int32(2), CopySource: aws.String("mpu/src.bin"), CopySourceRange: aws.String("bytes=0-99")}); err != nil {
		t.Fatal(err)
	}
	e2small := `"` + md5hex(src[:100]) + `"`
	_, err = complete(part(1, e1), part(2, e2small), part(3, *cp.CopyPartResult.ETag))
	wantS3Code(t, "Complete with a part under 5 MiB before the last", err, "EntityTooSmall")
	e2 = uploadPart(t, c, "mpu", "big/obj.bin", id, 2, p2)

	done, err := complete(part(1, e1), part(2, e2), part(3, *cp.CopyPartResult.ETag))
	if err != nil {
		t.Fatal(err)
	}
	if want := multipartETag(p1, p2, p3); *done.ETag != want {
		t.Fatalf("Complete ETag %s, want %s", *done.ETag, want)
	}
	whole := bytes.Join([][]byte{p1, p2, p3}, nil)
	got, out := getBytes(t, c, "mpu", "big/obj.bin")
	if !bytes.Equal(got, whole) || *out.ETag != *done.ETag || *out.ContentType != "application/x-big" || out.Metadata["origin"] != "test" {
		t.Fatalf("GetObject of the completed object: %d bytes (want %d), ETag %s, type %s, metadata %v", len(got), len(whole), *out.ETag, *out.ContentType, out.Metadata)
	}
	// The Hub API reads the same bytes.
	bc, bctx, key := h.hubBucket(t, "mpu")
	var buf bytes.Buffer
	if _, err := bc.PullPath(bctx, key, "big/obj.bin", &buf); err != nil || !bytes.Equal(buf.Bytes(), whole) {
		t.Fatalf("Hub PullPath of the completed object: %d bytes, %v", buf.Len(), err)
	}
	_, err = complete(part(1, e1))
	wantS3Code(t, "Complete of a completed upload", err, "NoSuchUpload")
	lu, err = c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("mpu")})
	if err != nil || len(lu.Uploads) != 0 {
		t.Fatalf("ListMultipartUploads after Complete and Abort: %+v, %v", lu, err)
	}
	// The staging bucket holds no parts any more, and S3 does not list it.
	lb, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 {
		t.Fatalf("ListBuckets: %+v, %v", lb, err)
	}
	sbc, sctx, skey := h.hubBucket(t, ".s3-multipart")
	it, _, err := sbc.ListPath(sctx, skey, "")
	if err != nil || it.ItemsCount != 1 { // the seed file
		t.Fatalf("staging bucket after the uploads ended: %+v, %v", it, err)
	}

	// minio-go sends a body of unknown length as a multipart upload.
	body := randomData(11 * mib)
	if _, err := h.minio.PutObject(ctx, "mpu", "minio/unknown.bin", bytes.NewReader(body), -1, minio.PutObjectOptions{PartSize: 5 * mib}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getBytes(t, c, "mpu", "minio/unknown.bin"); !bytes.Equal(got, body) {
		t.Fatalf("minio-go's upload of unknown length: %d bytes back, want %d", len(got), len(body))
	}
}

// TestS3MultipartSurvivesKill kills hubd (SIGKILL) with parts uploaded,
// restarts it on the same repo and completes the upload; a second upload
// left open is aborted by the collector once older than --s3-upload-ttl.
func TestS3MultipartSurvivesKill(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	repo := t.TempDir()
	args := append(hubdArgs(repo), "--s3-upload-ttl", "2s", "--gc-interval", "1s")
	p := testhub.StartProcess(t, bin, nil, append(hubdArgs(repo), "--gc-interval", "0")...)
	h := newS3Hub(t, p)
	ctx, c := context.Background(), h.aws
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	cr, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("crash"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := randomData(5*mib), randomData(2*mib)
	e1 := uploadPart(t, c, "crash", "obj", *cr.UploadId, 1, p1)
	e2 := uploadPart(t, c, "crash", "obj", *cr.UploadId, 2, p2)
	p.Kill()

	p = testhub.StartProcess(t, bin, nil, args...)
	c = awsClient(p.Addrs.S3, h.key.Key, h.key.Secret)
	done, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("crash"), Key: aws.String("obj"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(e1)}, {PartNumber: aws.Int32(2), ETag: aws.String(e2)}}}})
	if err != nil {
		t.Fatalf("Complete after a restart: %v", err)
	}
	if want := multipartETag(p1, p2); *done.ETag != want {
		t.Fatalf("Complete ETag %s, want %s", *done.ETag, want)
	}
	if got, _ := getBytes(t, c, "crash", "obj"); !bytes.Equal(got, append(p1, p2...)) {
		t.Fatalf("the object completed after a restart: %d bytes", len(got))
	}

	// An abandoned upload is aborted after the TTL (2s here), and its
	// parts go; garbage collection (every second) keeps the object.
	ab, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("crash"), Key: aws.String("left")})
	if err != nil {
		t.Fatal(err)
	}
	uploadPart(t, c, "crash", "left", *ab.UploadId, 1, randomData(mib))
	pollUntil(t, "the abandoned upload is collected", func() bool {
		lu, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("crash")})
		return err == nil && len(lu.Uploads) == 0
	})
	if got, _ := getBytes(t, c, "crash", "obj"); !bytes.Equal(got, append(p1, p2...)) {
		t.Fatalf("the completed object after collections: %d bytes", len(got))
	}
}

// pollUntil polls cond until it holds, failing the test after a generous
// deadline.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 2 minutes", what)
		}
	}
}

// TestS3MultipartPrivate completes an upload to a private bucket (its
// parts kept in the private staging bucket, encrypted) and copies the
// object to a public bucket and back.
func TestS3MultipartPrivate(t *testing.T) {
	h := startS3Hub(t)
	ctx, c := context.Background(), h.aws
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("open")}); err != nil {
		t.Fatal(err)
	}
	bc, bctx, _ := h.hubBucket(t, "open")
	if _, err := bc.Create(bctx, "vault", bucketsclient.CreateOptions{Private: true}); err != nil {
		t.Fatal(err)
	}
	cr, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String("secret.bin")})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := randomData(5*mib), randomData(100_000)
	e1 := uploadPart(t, c, "vault", "secret.bin", *cr.UploadId, 1, p1)
	e2 := uploadPart(t, c, "vault", "secret.bin", *cr.UploadId, 2, p2)
	sbc, sctx, skey := h.hubBucket(t, ".s3-multipart-private")
	if root, err := sbc.Root(sctx, skey); err != nil || root.KeyID == "" {
		t.Fatalf("the staging bucket of a private bucket's parts is not private: %+v, %v", root, err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("vault"), Key: aws.String("secret.bin"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(e1)}, {PartNumber: aws.Int32(2), ETag: aws.String(e2)}}}})
	if err != nil {
		t.Fatal(err)
	}
	whole := append(p1, p2...)
	if got, out := getBytes(t, c, "vault", "secret.bin"); !bytes.Equal(got, whole) || *out.ETag != *done.ETag {
		t.Fatalf("the private object: %d bytes (want %d), ETag %s", len(got), len(whole), *out.ETag)
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("open"), Key: aws.String("out.bin"), CopySource: aws.String("vault/secret.bin")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getBytes(t, c, "open", "out.bin"); !bytes.Equal(got, whole) {
		t.Fatalf("copied out of the private bucket: %d bytes", len(got))
	}
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("vault"), Key: aws.String("back.bin"), CopySource: aws.String("open/out.bin")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := getBytes(t, c, "vault", "back.bin"); !bytes.Equal(got, whole) {
		t.Fatalf("copied into the private bucket: %d bytes", len(got))
	}
}

// TestS3Multipart200MiB uploads 200 MiB in 10 MiB parts, four at a time,
// with one part sent twice, and reads the object back whole.
func TestS3Multipart200MiB(t *testing.T) {
	h := startS3Hub(t)
	ctx, c := context.Background(), h.aws
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("large")}); err != nil {
		t.Fatal(err)
	}
	cr, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("large"), Key: aws.String("200MiB.bin")})
	if err != nil {
		t.Fatal(err)
	}
	const parts, size = 20, 10 * mib
	whole := randomData(parts * size)
	done := make([]types.CompletedPart, parts)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			data := whole[i*size : (i+1)*size]
			send := func(b []byte) *awss3.UploadPartOutput {
				out, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("large"), Key: aws.String("200MiB.bin"),
					UploadId: cr.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(b)})
				if err != nil {
					t.Errorf("UploadPart %d: %v", i+1, err)
				}
				return out
			}
			if i == 7 { // sent once with other bytes, then again
				send(data[:mib])
			}
			if out := send(data); out != nil {
				done[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	out, err := c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("large"), Key: aws.String("200MiB.bin"), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	split := make([][]byte, parts)
	for i := range split {
		split[i] = whole[i*size : (i+1)*size]
	}
	if want := multipartETag(split...); *out.ETag != want {
		t.Fatalf("ETag %s, want %s", *out.ETag, want)
	}
	if got, _ := getBytes(t, c, "large", "200MiB.bin"); !bytes.Equal(got, whole) {
		t.Fatalf("read back %d bytes, want %d", len(got), len(whole))
	}
}
