package test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	stderrors "errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
)

// s3Hub is a child hubd with a developer, an account key and S3 clients
// (the AWS SDK and minio-go) signing with that key.
type s3Hub struct {
	p     *testhub.Process
	hc    *hubclient.Client
	sctx  context.Context // the developer's session
	sess  string          // its ID, for the hub CLI (HUB_SESSION)
	key   hub.APIKey
	ctx   context.Context // signed with key, for the Hub API
	aws   *awss3.Client
	minio *minio.Client
}

func startS3Hub(t testing.TB, args ...string) *s3Hub {
	t.Helper()
	return newS3Hub(t, testhub.StartProcess(t, testhub.Build(t, "./cmd/hubd"), nil, append(hubdArgs(t.TempDir()), args...)...))
}

// newS3Hub signs a developer up on p and makes S3 clients for its key.
func newS3Hub(t testing.TB, p *testhub.Process) *s3Hub {
	t.Helper()
	hc := hubclient.New(testhub.Dial(t, p.Addrs.API))
	sctx, sess := signup(t, hc, "s3dev")
	key, err := hc.CreateKey(sctx, hub.AccountKey, true)
	if err != nil {
		t.Fatal(err)
	}
	return &s3Hub{p: p, hc: hc, sctx: sctx, sess: sess.ID, key: key, ctx: testhub.WithKey(t, key),
		aws: awsClient(p.Addrs.S3, key.Key, key.Secret), minio: minioClient(t, p.Addrs.S3, key.Key, key.Secret)}
}

func awsClient(addr, key, secret string) *awss3.Client {
	return awss3.New(awss3.Options{BaseEndpoint: aws.String("http://" + addr), Region: "us-east-1", UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")})
}

func minioClient(t testing.TB, addr, key, secret string) *minio.Client {
	mc, err := minio.New(addr, &minio.Options{Creds: miniocreds.NewStaticV4(key, secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

// s3Code returns the S3 error code of err, or "" when it has none.
func s3Code(err error) string {
	var ae smithy.APIError
	if stderrors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var me minio.ErrorResponse
	if stderrors.As(err, &me) {
		return me.Code
	}
	return ""
}

func wantS3Code(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := s3Code(err); got != code {
		t.Fatalf("%s: got %v (code %q), want code %s", what, err, got, code)
	}
}

// hubBucket returns the Hub API's view of the S3 bucket name: the Go
// client bound to the developer's "buckets" DB, and the bucket's key.
func (h *s3Hub) hubBucket(t testing.TB, name string) (*bucketsclient.Client, context.Context, string) {
	t.Helper()
	conn := testhub.Dial(t, h.p.Addrs.API)
	dbs, err := threadsclient.New(conn).ListDBs(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dbs {
		if d.Name != "buckets" {
			continue
		}
		ctx := client.WithThread(h.ctx, d.ID.String())
		bc := bucketsclient.New(conn)
		list, err := bc.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range list {
			if b.Name == name {
				return bc, ctx, b.Key
			}
		}
	}
	t.Fatalf("no Hub bucket %q in the DB named buckets", name)
	return nil, nil, ""
}

func md5hex(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// TestS3Calls drives every implemented S3 call with the AWS SDK against a
// child hubd, with the errors clients expect, and checks that what S3
// writes the Hub API reads, and the other way round.
func TestS3Calls(t *testing.T) {
	h := startS3Hub(t)
	ctx, c := context.Background(), h.aws

	lb, err := c.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 0 {
		t.Fatalf("ListBuckets on a new account: %v, %v", lb, err)
	}
	if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("photos")})
	wantS3Code(t, "CreateBucket twice", err, "BucketAlreadyOwnedByYou")
	_, err = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	wantS3Code(t, "CreateBucket with an invalid name", err, "InvalidBucketName")
	if _, err := c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("nothere")})
	wantS3Code(t, "HeadBucket of a missing bucket", err, "NotFound")
	if _, err := c.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	lb, err = c.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || *lb.Buckets[0].Name != "photos" {
		t.Fatalf("ListBuckets: %v, %v", lb, err)
	}

	body := bytes.Repeat([]byte("hub s3 "), 50_000) // 350 kB: several chunks
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	if want := `"` + md5hex(body) + `"`; *put.ETag != want {
		t.Fatalf("PutObject ETag %s, want the body's MD5 %s", *put.ETag, want)
	}
	for _, k := range []string{"top.txt", "a/c/d.txt", "a-b"} {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatalf("PutObject %s: %v", k, err)
		}
	}
	get, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, body) || *get.ETag != *put.ETag || *get.ContentType != "text/plain" {
		t.Fatalf("GetObject: %d bytes, ETag %s, type %s", len(got), *get.ETag, *get.ContentType)
	}
	rng, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt"), Range: aws.String("bytes=7-13")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rng.Body)
	rng.Body.Close()
	if string(got) != "hub s3 " || *rng.ContentRange != fmt.Sprintf("bytes 7-13/%d", len(body)) {
		t.Fatalf("Range 7-13: %q, %s", got, *rng.ContentRange)
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt"), Range: aws.String(fmt.Sprintf("bytes=%d-", len(body)))})
	wantS3Code(t, "a range past the end", err, "InvalidRange")
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt"), IfMatch: aws.String(`"0123"`)})
	wantS3Code(t, "If-Match another ETag", err, "PreconditionFailed")
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt"), IfNoneMatch: put.ETag})
	wantS3Code(t, "If-None-Match its ETag", err, "NotModified")
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt"), IfModifiedSince: aws.Time(time.Now().Add(time.Hour))})
	wantS3Code(t, "If-Modified-Since a later time", err, "NotModified")
	if _, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt"), IfMatch: put.ETag}); err != nil {
		t.Fatalf("If-Match its ETag: %v", err)
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/b.txt")})
	if err != nil || *head.ContentLength != int64(len(body)) || *head.ETag != *put.ETag {
		t.Fatalf("HeadObject: %v, %v", head, err)
	}
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("a/none")})
	wantS3Code(t, "GetObject of a missing key", err, "NoSuchKey")
	_, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("nothere"), Key: aws.String("a")})
	wantS3Code(t, "GetObject in a missing bucket", err, "NoSuchBucket")
	for key, code := range map[string]string{"a//b": "InvalidArgument", "dir/": "InvalidArgument", "a/../b": "InvalidArgument",
		strings.Repeat("k", 1025): "KeyTooLongError", strings.Repeat("k", 256): "InvalidArgument"} {
		_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(key), Body: strings.NewReader("x")})
		wantS3Code(t, "PutObject "+clipKey(key), err, code)
	}

	// Listings, in S3's key order ("a-b" before "a/...").
	v2, err := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("photos")})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(v2.Contents); got != "a-b a/b.txt a/c/d.txt top.txt" {
		t.Fatalf("ListObjectsV2: %s", got)
	}
	v2, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("photos"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(v2.Contents); got != "a-b top.txt" || len(v2.CommonPrefixes) != 1 || *v2.CommonPrefixes[0].Prefix != "a/" {
		t.Fatalf("ListObjectsV2 with delimiter: %s, %d prefixes", got, len(v2.CommonPrefixes))
	}
	v2, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("photos"), Prefix: aws.String("a/"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(v2.Contents); got != "a/b.txt" || len(v2.CommonPrefixes) != 1 || *v2.CommonPrefixes[0].Prefix != "a/c/" {
		t.Fatalf("ListObjectsV2 under a/: %s, %v", got, v2.CommonPrefixes)
	}
	v2, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("photos"), StartAfter: aws.String("a/b.txt"), MaxKeys: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(v2.Contents); got != "a/c/d.txt" || !*v2.IsTruncated {
		t.Fatalf("ListObjectsV2 after a/b.txt, 1 key: %s, truncated %v", got, *v2.IsTruncated)
	}
	v1, err := c.ListObjects(ctx, &awss3.ListObjectsInput{Bucket: aws.String("photos"), Marker: aws.String("a/c/d.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(v1.Contents); got != "top.txt" {
		t.Fatalf("ListObjects after a/c/d.txt: %s", got)
	}

	// What S3 wrote, the Hub API reads; what the Hub API writes, S3 reads.
	bc, bctx, bkey := h.hubBucket(t, "photos")
	var pulled bytes.Buffer
	if _, err := bc.PullPath(bctx, bkey, "a/b.txt", &pulled); err != nil || !bytes.Equal(pulled.Bytes(), body) {
		t.Fatalf("PullPath of an S3 object: %d bytes, %v", pulled.Len(), err)
	}
	if _, err := bc.PushPath(bctx, bkey, "from/hub.txt", strings.NewReader("pushed by the Hub API"), ""); err != nil {
		t.Fatal(err)
	}
	get, err = c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("from/hub.txt")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(get.Body)
	get.Body.Close()
	if string(got) != "pushed by the Hub API" {
		t.Fatalf("GetObject of a pushed file: %q", got)
	}

	_, err = c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("photos")})
	wantS3Code(t, "DeleteBucket with objects", err, "BucketNotEmpty")
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("top.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("top.txt")}); err != nil {
		t.Fatalf("DeleteObject of a deleted key: %v", err)
	}
	del, err := c.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("photos"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a-b")}, {Key: aws.String("a/b.txt")}, {Key: aws.String("a/c/d.txt")}, {Key: aws.String("from/hub.txt")}, {Key: aws.String("a//x")}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Deleted) != 4 || len(del.Errors) != 1 || *del.Errors[0].Code != "InvalidArgument" {
		t.Fatalf("DeleteObjects: %d deleted, errors %v", len(del.Deleted), del.Errors)
	}
	v2, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("photos"), Delimiter: aws.String("/")})
	if err != nil || len(v2.Contents)+len(v2.CommonPrefixes) != 0 {
		t.Fatalf("ListObjectsV2 of an emptied bucket: %v, %v", v2, err)
	}
	if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("photos")})
	wantS3Code(t, "ListObjectsV2 of a deleted bucket", err, "NoSuchBucket")
}

// rawCode sends req and returns the S3 error code of the answer.
func rawCode(t *testing.T, req *http.Request) string {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var e struct{ Code string }
	if err := xml.NewDecoder(res.Body).Decode(&e); err != nil {
		return res.Status
	}
	return e.Code
}

func clipKey(k string) string {
	if len(k) > 20 {
		return fmt.Sprintf("%s… (%d bytes)", k[:10], len(k))
	}
	return k
}

func keysOf(objs []types.Object) string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, *o.Key)
	}
	return strings.Join(ks, " ")
}

// TestS3Auth checks signatures: a wrong secret, an unknown key, a skewed
// clock, anonymous requests, and presigned GET and PUT URLs.
func TestS3Auth(t *testing.T) {
	h := startS3Hub(t)
	ctx := context.Background()
	if _, err := h.aws.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("signed")}); err != nil {
		t.Fatal(err)
	}
	_, err := awsClient(h.p.Addrs.S3, h.key.Key, h.key.Secret+"x").ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantS3Code(t, "a wrong secret", err, "SignatureDoesNotMatch")
	_, err = awsClient(h.p.Addrs.S3, "bnosuchkey", h.key.Secret).ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantS3Code(t, "an unknown access key", err, "InvalidAccessKeyId")
	userKey, err := h.hc.CreateKey(h.sctx, hub.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = awsClient(h.p.Addrs.S3, userKey.Key, userKey.Secret).ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantS3Code(t, "a user group key", err, "AccessDenied")
	old, err := h.hc.CreateKey(h.sctx, hub.AccountKey, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.hc.InvalidateKey(h.sctx, old.Key); err != nil {
		t.Fatal(err)
	}
	_, err = awsClient(h.p.Addrs.S3, old.Key, old.Secret).ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantS3Code(t, "an invalidated key", err, "InvalidAccessKeyId")

	// The SDK's own signer, with a clock an hour slow.
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.p.Addrs.S3+"/signed", nil)
	const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", emptyHash)
	creds := aws.Credentials{AccessKeyID: h.key.Key, SecretAccessKey: h.key.Secret}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptyHash, "s3", "us-east-1", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if code := rawCode(t, req); code != "RequestTimeTooSkewed" {
		t.Fatalf("a request signed an hour ago: %s, want RequestTimeTooSkewed", code)
	}
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	if code := rawCode(t, req); code != "SignatureDoesNotMatch" {
		t.Fatalf("a request whose signed date was changed: %s, want SignatureDoesNotMatch", code)
	}
	res, err := http.Get("http://" + h.p.Addrs.S3 + "/signed")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous request: %s, want 403", res.Status)
	}

	pc := awss3.NewPresignClient(h.aws)
	pput, err := pc.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("signed"), Key: aws.String("p.txt")}, awss3.WithPresignExpires(7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPut, pput.URL, strings.NewReader("presigned body"))
	for k, v := range pput.SignedHeader {
		req.Header[k] = v
	}
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("presigned PUT: %s", res.Status)
	}
	pget, err := pc.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("signed"), Key: aws.String("p.txt")}, awss3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	res, err = http.Get(pget.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(got) != "presigned body" {
		t.Fatalf("presigned GET: %s %q", res.Status, got)
	}
	res, err = http.Get(strings.Replace(pget.URL, "X-Amz-Expires=3600", "X-Amz-Expires=3601", 1))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("presigned GET with its expiry changed: %s, want 403", res.Status)
	}
}

// TestS3Minio drives the calls with minio-go, which streams PutObject
// bodies over plain HTTP as signed aws-chunked chunks.
func TestS3Minio(t *testing.T) {
	h := startS3Hub(t)
	ctx, mc := context.Background(), h.minio
	if err := mc.MakeBucket(ctx, "mini", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := mc.BucketExists(ctx, "mini"); err != nil || !ok {
		t.Fatalf("BucketExists: %v, %v", ok, err)
	}
	body := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 300_000) // 2.1 MB: many 64 KiB chunks
	info, err := mc.PutObject(ctx, "mini", "dir/blob.bin", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "application/x-test"})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != md5hex(body) {
		t.Fatalf("PutObject ETag %s, want %s", info.ETag, md5hex(body))
	}
	// minio-go sends a body of unknown length as a multipart upload, which
	// is not implemented yet; a reader of known length streams.
	if _, err := mc.PutObject(ctx, "mini", "dir/stream.bin", io.LimitReader(bytes.NewReader(body), 100_000), 100_000, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := mc.StatObject(ctx, "mini", "dir/blob.bin", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(body)) || st.ContentType != "application/x-test" || st.Headers.Get("X-Hub-Cid") == "" {
		t.Fatalf("StatObject: %+v, %v", st, err)
	}
	obj, err := mc.GetObject(ctx, "mini", "dir/blob.bin", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetObject: %d bytes, %v", len(got), err)
	}
	var keys []string
	for o := range mc.ListObjects(ctx, "mini", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, " ") != "dir/blob.bin dir/stream.bin" {
		t.Fatalf("ListObjects: %v", keys)
	}
	u, err := mc.PresignedGetObject(ctx, "mini", "dir/stream.bin", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !bytes.Equal(got, body[:100_000]) {
		t.Fatalf("presigned GET: %s, %d bytes", res.Status, len(got))
	}
	if err := mc.RemoveObject(ctx, "mini", "dir/blob.bin", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = mc.StatObject(ctx, "mini", "dir/blob.bin", minio.StatObjectOptions{})
	wantS3Code(t, "StatObject of a removed object", err, "NoSuchKey")
}

// TestS3ListPaginationAndConcurrentWriters lists 2,500 keys a page at a
// time with both clients, after 32 writers put keys of one bucket at once:
// no write undoes another.
func TestS3ListPaginationAndConcurrentWriters(t *testing.T) {
	h := startS3Hub(t)
	ctx := context.Background()
	if _, err := h.aws.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("many")}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 4
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				k := fmt.Sprintf("w/%02d-%d", w, i)
				if _, err := h.aws.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("many"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
					errc <- fmt.Errorf("PutObject %s: %w", k, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	// 2,500 more keys in one push through the Hub API.
	bc, bctx, bkey := h.hubBucket(t, "many")
	const n = 2500
	i := 0
	var data []byte
	if _, _, err := bc.PushPaths(bctx, bkey, "", func() (hub.Chunk, error) {
		switch {
		case i == 2*n:
			return hub.Chunk{}, io.EOF
		case i%2 == 0:
			data = []byte(fmt.Sprintf("k%d", i/2))
			i++
			return hub.Chunk{Path: fmt.Sprintf("k/%05d", i/2), Data: data}, nil
		}
		i++
		return hub.Chunk{Path: fmt.Sprintf("k/%05d", i/2-1)}, nil
	}); err != nil {
		t.Fatal(err)
	}

	var all []string
	var token *string
	pages := 0
	for {
		out, err := h.aws.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("many"), ContinuationToken: token, MaxKeys: aws.Int32(700)})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range out.Contents {
			all = append(all, *o.Key)
		}
		if !*out.IsTruncated {
			break
		}
		token = out.NextContinuationToken
	}
	if len(all) != n+writers*each || pages != (n+writers*each+699)/700 {
		t.Fatalf("listed %d keys in %d pages, want %d", len(all), pages, n+writers*each)
	}
	for j := 1; j < len(all); j++ {
		if all[j-1] >= all[j] {
			t.Fatalf("keys out of order: %s before %s", all[j-1], all[j])
		}
	}
	for w := range writers {
		for i := range each {
			if !slices.Contains(all, fmt.Sprintf("w/%02d-%d", w, i)) {
				t.Fatalf("w/%02d-%d lost", w, i)
			}
		}
	}
	count := 0
	for o := range h.minio.ListObjects(ctx, "many", minio.ListObjectsOptions{Prefix: "k/", Recursive: true, UseV1: true, MaxKeys: 900}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		count++
	}
	if count != n {
		t.Fatalf("minio ListObjects v1 under k/: %d keys, want %d", count, n)
	}
}

// TestS3OrgsAndVirtualHosts checks that an org's account key reaches the
// org's buckets and not its members', and that --s3-domain serves
// <bucket>.<domain> requests.
func TestS3OrgsAndVirtualHosts(t *testing.T) {
	h := startS3Hub(t, "--s3-domain", "s3.hub.test")
	ctx := context.Background()
	org, err := h.hc.CreateOrg(h.sctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	orgKey, err := h.hc.CreateKey(client.WithOrg(h.sctx, org.Slug), hub.AccountKey, true)
	if err != nil {
		t.Fatal(err)
	}
	oc := awsClient(h.p.Addrs.S3, orgKey.Key, orgKey.Secret)
	if _, err := oc.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.aws.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("shared")}); s3Code(err) != "NotFound" {
		t.Fatalf("the org's bucket through the developer's own key: %v, want NotFound", err)
	}
	if _, err := h.aws.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatalf("a bucket of the same name as the developer: %v", err)
	}

	// Virtual-hosted style: the SDK puts the bucket in the host name,
	// which this client dials on the hub's loopback address.
	dial := &net.Dialer{}
	vc := awss3.New(awss3.Options{BaseEndpoint: aws.String("http://s3.hub.test:" + port(t, h.p.Addrs.S3)), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(orgKey.Key, orgKey.Secret, ""),
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial.DialContext(ctx, network, h.p.Addrs.S3)
		}}}})
	if _, err := vc.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("v/host.txt"), Body: strings.NewReader("virtual")}); err != nil {
		t.Fatal(err)
	}
	get, err := oc.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("v/host.txt")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if string(got) != "virtual" {
		t.Fatalf("GetObject path-style of a virtual-hosted PUT: %q", got)
	}
	out, err := vc.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("shared")})
	if err != nil || keysOf(out.Contents) != "v/host.txt" {
		t.Fatalf("ListObjectsV2 virtual-hosted: %v, %v", out, err)
	}
}

func port(t *testing.T, addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
