package test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3CopyMetadataConditional checks user metadata and the content
// headers round-trip, CopyObject with the COPY and REPLACE directives
// (within and across buckets), If-None-Match: * on PutObject, and that an
// object's S3 record goes with the object.
func TestS3CopyMetadataConditional(t *testing.T) {
	h := startS3Hub(t)
	ctx, c := context.Background(), h.aws
	for _, b := range []string{"one", "two"} {
		if _, err := c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	body := randomData(300_000)
	put, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("one"), Key: aws.String("doc.bin"), Body: bytes.NewReader(body),
		ContentType: aws.String("application/x-doc"), ContentEncoding: aws.String("gzip"), ContentDisposition: aws.String(`attachment; filename="d.bin"`),
		CacheControl: aws.String("max-age=60"), Metadata: map[string]string{"color": "blue", "Shape": "round"}})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, bucket, key, typ string, meta map[string]string) {
		t.Helper()
		got, out := getBytes(t, c, bucket, key)
		if !bytes.Equal(got, body) || *out.ETag != *put.ETag || *out.ContentType != typ {
			t.Fatalf("%s: %d bytes, ETag %s (want %s), type %s (want %s)", what, len(got), *out.ETag, *put.ETag, *out.ContentType, typ)
		}
		if len(out.Metadata) != len(meta) {
			t.Fatalf("%s: metadata %v, want %v", what, out.Metadata, meta)
		}
		for k, v := range meta {
			if out.Metadata[k] != v {
				t.Fatalf("%s: metadata %v, want %v", what, out.Metadata, meta)
			}
		}
	}
	orig := map[string]string{"color": "blue", "shape": "round"}
	check("GetObject", "one", "doc.bin", "application/x-doc", orig)
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("one"), Key: aws.String("doc.bin")})
	if err != nil || *head.ContentEncoding != "gzip" || *head.ContentDisposition != `attachment; filename="d.bin"` || *head.CacheControl != "max-age=60" {
		t.Fatalf("HeadObject content headers: %+v, %v", head, err)
	}

	// COPY (the default) keeps the metadata, across buckets too.
	cp, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("two"), Key: aws.String("copy/doc.bin"), CopySource: aws.String("one/doc.bin")})
	if err != nil || *cp.CopyObjectResult.ETag != *put.ETag {
		t.Fatalf("CopyObject: %+v, %v", cp, err)
	}
	check("the copy", "two", "copy/doc.bin", "application/x-doc", orig)
	// REPLACE takes the request's.
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("one"), Key: aws.String("re.bin"), CopySource: aws.String("one/doc.bin"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-new"), Metadata: map[string]string{"new": "yes"}}); err != nil {
		t.Fatal(err)
	}
	check("the copy with REPLACE", "one", "re.bin", "text/x-new", map[string]string{"new": "yes"})
	// Onto itself: only with REPLACE.
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("one"), Key: aws.String("doc.bin"), CopySource: aws.String("one/doc.bin")})
	wantS3Code(t, "CopyObject onto itself without REPLACE", err, "InvalidRequest")
	if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("one"), Key: aws.String("doc.bin"), CopySource: aws.String("one/doc.bin"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"v": "2"}}); err != nil {
		t.Fatal(err)
	}
	check("the object after a REPLACE onto itself", "one", "doc.bin", "application/octet-stream", map[string]string{"v": "2"})
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("one"), Key: aws.String("x"), CopySource: aws.String("one/missing")})
	wantS3Code(t, "CopyObject of a missing source", err, "NoSuchKey")
	_, err = c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("one"), Key: aws.String("x"), CopySource: aws.String("one/doc.bin"), CopySourceIfMatch: aws.String(`"nope"`)})
	wantS3Code(t, "CopyObject with a failing x-amz-copy-source-if-match", err, "PreconditionFailed")
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("one"), Key: aws.String("big.bin"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"k": strings.Repeat("v", 3000)}})
	wantS3Code(t, "PutObject with 3 kB of metadata", err, "MetadataTooLarge")

	// If-None-Match: * writes only a new key.
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("one"), Key: aws.String("once"), Body: strings.NewReader("first"), IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("one"), Key: aws.String("once"), Body: strings.NewReader("second"), IfNoneMatch: aws.String("*")})
	wantS3Code(t, "PutObject If-None-Match: * on an existing key", err, "PreconditionFailed")
	if got, _ := getBytes(t, c, "one", "once"); string(got) != "first" {
		t.Fatalf("after a refused conditional write: %q", got)
	}

	// DeleteObject forgets the S3 record: the same bytes pushed again
	// through the Hub API (the same CID) are described from the bucket.
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("two"), Key: aws.String("copy/doc.bin")}); err != nil {
		t.Fatal(err)
	}
	bc, bctx, key := h.hubBucket(t, "two")
	if _, err := bc.PushPath(bctx, key, "copy/doc.bin", bytes.NewReader(body), ""); err != nil {
		t.Fatal(err)
	}
	_, out := getBytes(t, c, "two", "copy/doc.bin")
	if *out.ETag == *put.ETag || len(out.Metadata) != 0 || out.ContentEncoding != nil {
		t.Fatalf("a re-pushed file kept the S3 record of a deleted object: ETag %s, metadata %v", *out.ETag, out.Metadata)
	}
}
