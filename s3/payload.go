package s3

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// A request body reaches the bucket through a reader that checks it as it
// streams: the aws-chunked framing is decoded and each chunk's signature
// checked, and at the end the length, the payload's SHA-256, Content-MD5
// and any x-amz-checksum-* value (header or trailer) are compared. A
// failed check is the reader's error, so the push that reads it stores
// nothing; no check holds more than one line of the body in memory.

// maxChunkLine bounds a chunk header or trailer line of an aws-chunked body.
const maxChunkLine = 4 << 10

// crc64NVME is the CRC-64/NVME table (reflected polynomial), one of the
// checksums current SDKs send.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// checksumAlgs are the x-amz-checksum-* algorithms, by header suffix.
var checksumAlgs = map[string]func() hash.Hash{
	"crc32":     func() hash.Hash { return crc32.NewIEEE() },
	"crc32c":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"crc64nvme": func() hash.Hash { return crc64.New(crc64NVME) },
	"sha1":      sha1.New,
	"sha256":    sha256.New,
}

// body is a request payload as the object's bytes.
type body struct {
	src      io.Reader
	length   int64 // expected bytes; -1 when unknown
	n        int64
	md5      hash.Hash
	sha      hash.Hash // the payload hash to check, or nil
	wantSHA  string
	sum      hash.Hash // the x-amz-checksum-* to check, or nil
	sumName  string    // its header name
	wantSum  string    // from the header; "" to take it from the trailer
	wantMD5  []byte    // Content-MD5, or nil
	chunks   *chunkReader
	err      error
	finished bool
}

// newBody returns r's payload reader. key signs the chunks of a signed
// aws-chunked body.
func newBody(r *http.Request, sr *signedRequest, key []byte) (*body, error) {
	b := &body{src: r.Body, length: r.ContentLength, md5: md5.New()}
	switch ph := sr.payloadHash; ph {
	case unsignedPayload:
	case streamingSigned, streamingSignedTrailer, streamingUnsignedTrail:
		n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return nil, apiErrorf(errMissingContentLength, "an aws-chunked body needs x-amz-decoded-content-length, the object's size")
		}
		b.length = n
		b.chunks = &chunkReader{r: bufio.NewReaderSize(r.Body, maxChunkLine), signed: ph != streamingUnsignedTrail,
			trailer: ph != streamingSigned, key: key, sr: sr, prev: sr.signature}
		b.src = b.chunks
	default:
		if _, err := hex.DecodeString(ph); err != nil || len(ph) != 64 {
			return nil, apiErrorf(errInvalidArgument, "x-amz-content-sha256 %q is neither a hex SHA-256 nor UNSIGNED-PAYLOAD nor a STREAMING-* value", clip(ph))
		}
		b.sha, b.wantSHA = sha256.New(), ph
	}
	if b.length < 0 {
		return nil, apiErrorf(errMissingContentLength, "send Content-Length (or an aws-chunked body with x-amz-decoded-content-length)")
	}
	if v := r.Header.Get("Content-MD5"); v != "" {
		m, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(m) != md5.Size {
			return nil, apiErrorf(errInvalidDigest, "Content-MD5 must be the base64 of the body's 16-byte MD5")
		}
		b.wantMD5 = m
	}
	for name, alg := range checksumAlgs {
		h := "x-amz-checksum-" + name
		if v := r.Header.Get(h); v != "" {
			b.sum, b.sumName, b.wantSum = alg(), h, v
		}
	}
	if t := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer"))); t != "" {
		if b.chunks == nil || !b.chunks.trailer {
			return nil, apiErrorf(errInvalidRequest, "x-amz-trailer needs an aws-chunked body with a trailer (STREAMING-*-TRAILER)")
		}
		alg, ok := checksumAlgs[strings.TrimPrefix(t, "x-amz-checksum-")]
		if !ok || b.sum != nil {
			return nil, apiErrorf(errInvalidRequest, "x-amz-trailer %q is not one x-amz-checksum-* (crc32, crc32c, crc64nvme, sha1, sha256)", clip(t))
		}
		b.sum, b.sumName = alg(), t
	}
	return b, nil
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		b.n += int64(n)
		if b.n > b.length {
			b.err = apiErrorf(errIncompleteBody, "the body holds more than the %d bytes announced", b.length)
			return 0, b.err
		}
		b.md5.Write(p[:n])
		if b.sha != nil {
			b.sha.Write(p[:n])
		}
		if b.sum != nil {
			b.sum.Write(p[:n])
		}
	}
	if err == io.EOF {
		if cerr := b.check(); cerr != nil {
			b.err = cerr
			return n, cerr
		}
		b.finished = true
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// check runs the end-of-body checks.
func (b *body) check() error {
	if b.n != b.length {
		return apiErrorf(errIncompleteBody, "the body ended after %d of the %d bytes announced", b.n, b.length)
	}
	if b.sha != nil && hex.EncodeToString(b.sha.Sum(nil)) != b.wantSHA {
		return apiErrorf(errContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	if b.wantMD5 != nil && !bytes.Equal(b.md5.Sum(nil), b.wantMD5) {
		return apiErrorf(errBadDigest, "The Content-MD5 you specified did not match what we received.")
	}
	if b.sum != nil {
		want := b.wantSum
		if want == "" {
			want = b.chunks.trailers[b.sumName]
		}
		if got := base64.StdEncoding.EncodeToString(b.sum.Sum(nil)); got != want {
			return apiErrorf(errBadDigest, "The %s you specified (%q) did not match the calculated checksum %q.", b.sumName, clip(want), got)
		}
	}
	return nil
}

// etag is the hex MD5 of the body, once it has been read to its end.
func (b *body) etag() string { return hex.EncodeToString(b.md5.Sum(nil)) }

// chunkReader decodes an aws-chunked body: chunks of "<hex size>[;chunk-
// signature=<sig>]\r\n<data>\r\n", a last chunk of size 0, then either
// "\r\n" or trailer lines and an empty line. Each signed chunk's signature
// chains from the previous one, starting at the request's.
type chunkReader struct {
	r       *bufio.Reader
	signed  bool
	trailer bool
	key     []byte
	sr      *signedRequest
	prev    string // the last verified signature

	left     int64     // bytes left in the current chunk
	chunkSig string    // its claimed signature
	hash     hash.Hash // SHA-256 of its data
	done     bool
	trailers map[string]string
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		if err := c.nextChunk(); err != nil {
			return 0, err
		}
		if c.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.hash != nil {
		c.hash.Write(p[:n])
	}
	if err == io.EOF {
		err = apiErrorf(errIncompleteBody, "the aws-chunked body ended inside a chunk")
	}
	if err == nil && c.left == 0 {
		err = c.endChunk()
	}
	return n, err
}

// nextChunk reads a chunk header; the chunk of size 0 ends the body.
func (c *chunkReader) nextChunk() error {
	line, err := c.line()
	if err != nil {
		return err
	}
	sizeHex, ext, _ := strings.Cut(line, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
	if err != nil || size < 0 {
		return apiErrorf(errIncompleteBody, "aws-chunked: %q is not a chunk header", clip(line))
	}
	c.chunkSig = strings.TrimPrefix(ext, "chunk-signature=")
	if c.signed && (c.chunkSig == ext || c.chunkSig == "") {
		return apiErrorf(errSignatureDoesNotMatch, "aws-chunked: chunk header %q has no chunk-signature", clip(line))
	}
	c.left = size
	if c.signed {
		c.hash = sha256.New()
	}
	if size > 0 {
		return nil
	}
	if err := c.verifyChunk(); err != nil {
		return err
	}
	c.done = true
	if c.trailer {
		return c.readTrailer()
	}
	if l, err := c.line(); err != nil || l != "" {
		return apiErrorf(errIncompleteBody, "aws-chunked: the last chunk must be followed by an empty line")
	}
	return nil
}

// endChunk reads the CRLF after a chunk's data and checks its signature.
func (c *chunkReader) endChunk() error {
	if l, err := c.line(); err != nil || l != "" {
		return apiErrorf(errIncompleteBody, "aws-chunked: a chunk's data is longer than its header says")
	}
	return c.verifyChunk()
}

func (c *chunkReader) verifyChunk() error {
	if !c.signed {
		return nil
	}
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.sr.date.UTC().Format(amzDateFormat) + "\n" + c.sr.scope + "\n" +
		c.prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(c.hash.Sum(nil))
	return c.chain(sts, c.chunkSig)
}

// chain checks sig over sts and makes it the previous signature.
func (c *chunkReader) chain(sts, sig string) error {
	want := hex.EncodeToString(hmacSHA256(c.key, sts))
	if want != sig {
		return apiErrorf(errSignatureDoesNotMatch, "aws-chunked: a chunk's signature does not match its data")
	}
	c.prev = sig
	return nil
}

// readTrailer reads the trailer lines up to the empty one, and checks
// their signature when the body is signed.
func (c *chunkReader) readTrailer() error {
	c.trailers = map[string]string{}
	var signedText strings.Builder
	sig := ""
	for lines := 0; ; lines++ {
		if lines > 16 {
			return apiErrorf(errInvalidRequest, "aws-chunked: the trailer has too many lines")
		}
		l, err := c.line()
		if err != nil {
			return err
		}
		if l == "" {
			// minio-go puts an empty line between the checksum and its
			// signature; the trailer ends at the empty line after both.
			if c.signed && sig == "" {
				continue
			}
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return apiErrorf(errIncompleteBody, "aws-chunked: trailer line %q is not name:value", clip(l))
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "x-amz-trailer-signature" {
			sig = strings.TrimSpace(v)
			continue
		}
		c.trailers[k] = strings.TrimSpace(v)
		signedText.WriteString(k + ":" + strings.TrimSpace(v) + "\n")
	}
	if !c.signed {
		return nil
	}
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + c.sr.date.UTC().Format(amzDateFormat) + "\n" + c.sr.scope + "\n" +
		c.prev + "\n" + hexSHA256(signedText.String())
	return c.chain(sts, sig)
}

// line reads one CRLF-terminated line, at most maxChunkLine bytes.
func (c *chunkReader) line() (string, error) {
	l, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", apiErrorf(errIncompleteBody, "aws-chunked: a header line is longer than %d bytes", maxChunkLine)
	}
	if err != nil {
		return "", apiErrorf(errIncompleteBody, "aws-chunked: the body ended early")
	}
	return strings.TrimRight(string(l), "\r\n"), nil
}
