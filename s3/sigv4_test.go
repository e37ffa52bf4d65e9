package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7/pkg/signer"
)

const (
	testKey    = "bakey"
	testSecret = "bsecret"
)

// newRequest returns a request as a server receives it: Host set.
func newRequest(method, url string, body io.Reader) *http.Request {
	r, _ := http.NewRequest(method, url, body)
	r.Host = r.URL.Host
	return r
}

// check parses and verifies r's signature as the server does.
func check(t *testing.T, r *http.Request, now time.Time, secret string) (*signedRequest, error) {
	t.Helper()
	sr, err := parseSignature(r, now)
	if err != nil {
		return nil, err
	}
	return sr, sr.verify(r, secret)
}

func code(err error) string {
	if ae, ok := err.(*apiError); ok {
		return ae.code.Code
	}
	if err == nil {
		return ""
	}
	return "not an S3 error: " + err.Error()
}

// TestHeaderSignature checks requests the AWS SDK's signer signs, with
// paths and queries that need encoding.
func TestHeaderSignature(t *testing.T) {
	now := time.Now()
	for _, url := range []string{
		"http://127.0.0.1:8007/",
		"http://127.0.0.1:8007/bucket/dir/a%20b%2Bc%E2%82%AC.txt",
		"http://127.0.0.1:8007/bucket?list-type=2&prefix=a%2Fb&delimiter=%2F&start-after=x%20y",
		"http://b.s3.example:8007/key~with*stars?location",
	} {
		r := newRequest(http.MethodGet, url, nil)
		r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
		r.Header.Set("Range", "bytes=1-2")
		// S3 signs the path as sent, not escaped again (the SDK's S3 client
		// sets this too).
		s3Signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err := s3Signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
			r, emptySHA256, "s3", "eu-west-1", now); err != nil {
			t.Fatal(err)
		}
		sr, err := check(t, r, now, testSecret)
		if err != nil || sr.accessKey != testKey || sr.region != "eu-west-1" {
			t.Fatalf("%s: %v", url, err)
		}
		if _, err := check(t, r, now, "other"); code(err) != "SignatureDoesNotMatch" {
			t.Fatalf("%s with another secret: %v", url, err)
		}
		r.Header.Set("Range", "bytes=1-3")
		if _, err := check(t, r, now, testSecret); code(err) != "SignatureDoesNotMatch" {
			t.Fatalf("%s with a signed header changed: %v", url, err)
		}
		if _, err := check(t, r, now.Add(16*time.Minute), testSecret); code(err) != "RequestTimeTooSkewed" {
			t.Fatalf("%s 16 minutes later: %v", url, err)
		}
	}
}

// TestPresigned checks presigned URLs: valid until they expire, at most
// a week.
func TestPresigned(t *testing.T) {
	now := time.Now()
	sign := func(expires time.Duration) *http.Request {
		r := newRequest(http.MethodGet, "http://127.0.0.1:8007/bucket/key.txt", nil)
		u := signer.PreSignV4(*r, testKey, testSecret, "", "us-east-1", int64(expires/time.Second))
		return newRequest(http.MethodGet, u.URL.String(), nil)
	}
	if _, err := check(t, sign(time.Hour), now, testSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := check(t, sign(time.Hour), now.Add(61*time.Minute), testSecret); code(err) != "AccessDenied" {
		t.Fatalf("an expired URL: %v", err)
	}
	if _, err := check(t, sign(8*24*time.Hour), now, testSecret); code(err) != "AuthorizationQueryParametersError" {
		t.Fatalf("a URL valid for 8 days: %v", err)
	}
	if _, err := check(t, sign(time.Hour), now, "other"); code(err) != "SignatureDoesNotMatch" {
		t.Fatalf("another secret: %v", err)
	}
}

type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// TestStreamingBodies decodes aws-chunked bodies as minio-go signs them,
// with and without a trailing checksum, and one with unsigned chunks, and
// refuses altered ones.
func TestStreamingBodies(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // 320 kB: five 64 KiB chunks
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	crcB64 := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	now := time.Now().UTC()
	signed := func(trailer string) (*http.Request, []byte) {
		r := newRequest(http.MethodPut, "http://127.0.0.1:8007/bucket/key", bytes.NewReader(data))
		if trailer != "" {
			r.Trailer = http.Header{"X-Amz-Checksum-Crc32c": {trailer}}
		}
		r = signer.StreamingSignV4(r, testKey, testSecret, "", "us-east-1", int64(len(data)), now, sha256Hasher{sha256.New()})
		wire, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		return r, wire
	}
	read := func(r *http.Request, wire []byte) ([]byte, error) {
		sr, err := check(t, r, now, testSecret)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(wire))
		b, err := newBody(r, sr, sr.signingKey(testSecret))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(b)
	}
	for _, trailer := range []string{"", crcB64} {
		r, wire := signed(trailer)
		got, err := read(r, wire)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("trailer %q: %d bytes, %v", trailer, len(got), err)
		}
		bad := bytes.Clone(wire)
		bad[len(bad)/2] ^= 1
		if _, err := read(r, bad); code(err) != "SignatureDoesNotMatch" {
			t.Fatalf("trailer %q, a byte altered: %v", trailer, err)
		}
		if _, err := read(r, wire[:len(wire)-40]); code(err) == "" {
			t.Fatalf("trailer %q, cut short: no error", trailer)
		}
	}
	// A signed trailer that names another checksum fails its signature;
	// one signed with a wrong value fails the checksum.
	r, wire := signed("AAAAAA==")
	if _, err := read(r, wire); code(err) != "BadDigest" {
		t.Fatalf("a wrong trailing CRC32C: %v", err)
	}

	// Unsigned chunks with a trailer, as the AWS SDK sends over TLS.
	var w bytes.Buffer
	for off := 0; off < len(data); off += 100_000 {
		end := min(off+100_000, len(data))
		w.WriteString(strings.ToLower(hex.EncodeToString([]byte{byte((end - off) >> 16), byte((end - off) >> 8), byte(end - off)})) + "\r\n")
		w.Write(data[off:end])
		w.WriteString("\r\n")
	}
	w.WriteString("0\r\nx-amz-checksum-crc32c:" + crcB64 + "\r\n\r\n")
	u := newRequest(http.MethodPut, "http://127.0.0.1:8007/bucket/key", nil)
	u.Header.Set("X-Amz-Content-Sha256", streamingUnsignedTrail)
	u.Header.Set("X-Amz-Decoded-Content-Length", "320000")
	u.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32c")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret},
		u, streamingUnsignedTrail, "s3", "us-east-1", now); err != nil {
		t.Fatal(err)
	}
	got, err := read(u, w.Bytes())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("unsigned chunks: %d bytes, %v", len(got), err)
	}
	bad := bytes.Clone(w.Bytes())
	bad[200] ^= 1
	if _, err := read(u, bad); code(err) != "BadDigest" {
		t.Fatalf("unsigned chunks, a byte altered: %v", err)
	}
}
