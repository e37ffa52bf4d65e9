package s3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/selfhub/hub/errors"
)

// Signature Version 4 as S3 uses it: the request's method, path, query,
// signed headers and payload hash are put in canonical form, hashed, and
// signed with a key derived from the secret, the date, the region and the
// service. The secret never travels; the hub recomputes the signature
// with the API key's secret and compares.

const (
	algorithm     = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	scopeDate     = "20060102"
	// maxSkew is how far a header-signed request's date may be from the
	// hub's clock, S3's own rule against replays.
	maxSkew = 15 * time.Minute
	// maxPresign is the longest validity S3 allows a presigned URL.
	maxPresign = 7 * 24 * time.Hour
)

// Payload hash values with a meaning of their own.
const (
	unsignedPayload        = "UNSIGNED-PAYLOAD"
	streamingSigned        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrail = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	emptySHA256            = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// signedRequest is what a request's signature claims, parsed from its
// Authorization header or its presigned query.
type signedRequest struct {
	accessKey     string
	date          time.Time // the signing time, x-amz-date
	scope         string    // <yyyymmdd>/<region>/s3/aws4_request
	region        string
	signedHeaders []string // lower case, sorted as sent
	signature     string   // hex
	payloadHash   string   // x-amz-content-sha256, or UNSIGNED-PAYLOAD for presigned
	presigned     bool
	expires       time.Duration // presigned only
}

// parseSignature reads the signature a request carries, in its header or
// its query, and checks its form and its time against now.
func parseSignature(r *http.Request, now time.Time) (*signedRequest, error) {
	q := r.URL.Query()
	if h := r.Header.Get("Authorization"); h != "" {
		return parseHeaderSignature(r, h, now)
	}
	if q.Get("X-Amz-Algorithm") != "" || q.Get("X-Amz-Signature") != "" {
		return parsePresigned(q, now)
	}
	if q.Get("Signature") != "" || q.Get("AWSAccessKeyId") != "" {
		return nil, apiErrorf(errAccessDenied, "Signature Version 2 is not supported; sign requests with Signature Version 4")
	}
	return nil, apiErrorf(errAccessDenied, "Anonymous requests are not accepted; sign the request with an account API key (access key ID) and its secret (Signature Version 4)")
}

func parseHeaderSignature(r *http.Request, h string, now time.Time) (*signedRequest, error) {
	alg, rest, _ := strings.Cut(h, " ")
	if alg != algorithm {
		if alg == "AWS" {
			return nil, apiErrorf(errAccessDenied, "Signature Version 2 is not supported; sign requests with Signature Version 4")
		}
		return nil, apiErrorf(errAuthorizationHeaderMalformed, "the authorization header names algorithm %q; use %s", clip(alg), algorithm)
	}
	sr := &signedRequest{}
	var cred, signed string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, apiErrorf(errAuthorizationHeaderMalformed, "the authorization header's part %q is not key=value", clip(part))
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sr.signature = v
		}
	}
	if cred == "" || signed == "" || sr.signature == "" {
		return nil, apiErrorf(errAuthorizationHeaderMalformed, "the authorization header needs Credential, SignedHeaders and Signature")
	}
	if err := sr.parseCredential(cred); err != nil {
		return nil, err
	}
	sr.signedHeaders = strings.Split(signed, ";")
	if !slices.Contains(sr.signedHeaders, "host") {
		return nil, apiErrorf(errAccessDenied, "the signed headers must include host")
	}
	ds := r.Header.Get("X-Amz-Date")
	if ds == "" {
		ds = r.Header.Get("Date")
	}
	var err error
	if sr.date, err = time.Parse(amzDateFormat, ds); err != nil {
		if sr.date, err = http.ParseTime(ds); err != nil {
			return nil, apiErrorf(errAccessDenied, "the request has no valid x-amz-date header (%q); send the signing time as 20060102T150405Z", clip(ds))
		}
	}
	if d := now.Sub(sr.date); d > maxSkew || d < -maxSkew {
		return nil, apiErrorf(errRequestTimeTooSkewed, "the request was signed at %s and the hub's time is %s; the difference must be under %s", sr.date.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), maxSkew)
	}
	sr.payloadHash = r.Header.Get("X-Amz-Content-Sha256")
	if sr.payloadHash == "" {
		return nil, apiErrorf(errInvalidRequest, "missing x-amz-content-sha256: send the payload's SHA-256 in hex, or UNSIGNED-PAYLOAD")
	}
	if err := sr.checkScopeDate(); err != nil {
		return nil, err
	}
	return sr, nil
}

func parsePresigned(q url.Values, now time.Time) (*signedRequest, error) {
	if q.Get("X-Amz-Algorithm") != algorithm {
		return nil, apiErrorf(errAuthorizationQueryParametersError, "X-Amz-Algorithm must be %s", algorithm)
	}
	sr := &signedRequest{presigned: true, signature: q.Get("X-Amz-Signature"), payloadHash: unsignedPayload}
	if err := sr.parseCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	var err error
	if sr.date, err = time.Parse(amzDateFormat, q.Get("X-Amz-Date")); err != nil {
		return nil, apiErrorf(errAuthorizationQueryParametersError, "X-Amz-Date must be a time such as 20060102T150405Z")
	}
	secs, err := strconv.ParseInt(q.Get("X-Amz-Expires"), 10, 64)
	if err != nil || secs < 0 {
		return nil, apiErrorf(errAuthorizationQueryParametersError, "X-Amz-Expires must be a number of seconds")
	}
	sr.expires = time.Duration(secs) * time.Second
	if sr.expires > maxPresign {
		return nil, apiErrorf(errAuthorizationQueryParametersError, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")
	}
	if sr.date.Sub(now) > maxSkew {
		return nil, apiErrorf(errAccessDenied, "the presigned URL is dated %s, in the future", sr.date.UTC().Format(time.RFC3339))
	}
	if !now.Before(sr.date.Add(sr.expires)) {
		return nil, apiErrorf(errAccessDenied, "Request has expired: the presigned URL was valid until %s", sr.date.Add(sr.expires).UTC().Format(time.RFC3339))
	}
	if sr.signature == "" || q.Get("X-Amz-SignedHeaders") == "" {
		return nil, apiErrorf(errAuthorizationQueryParametersError, "a presigned URL needs X-Amz-SignedHeaders and X-Amz-Signature")
	}
	sr.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	if h := q.Get("X-Amz-Content-Sha256"); h != "" {
		sr.payloadHash = h
	}
	if err := sr.checkScopeDate(); err != nil {
		return nil, err
	}
	return sr, nil
}

// parseCredential reads <key>/<yyyymmdd>/<region>/s3/aws4_request. Any
// region is accepted: the hub has one, and the signature covers the
// region the client chose.
func (sr *signedRequest) parseCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" || parts[3] != "s3" || parts[4] != "aws4_request" {
		return apiErrorf(errAuthorizationHeaderMalformed, "the credential %q is not <access key>/<date>/<region>/s3/aws4_request", clip(cred))
	}
	sr.accessKey = parts[0]
	sr.region = parts[2]
	sr.scope = strings.Join(parts[1:], "/")
	return nil
}

// checkScopeDate checks that the credential's date is the signing date.
func (sr *signedRequest) checkScopeDate() error {
	if d, _, _ := strings.Cut(sr.scope, "/"); d != sr.date.UTC().Format(scopeDate) {
		return apiErrorf(errSignatureDoesNotMatch, "the credential's date %s is not the signing date %s", clip(d), sr.date.UTC().Format(scopeDate))
	}
	return nil
}

// signingKey derives the key that signs requests of the scope's day,
// region and service from secret.
func (sr *signedRequest) signingKey(secret string) []byte {
	k := []byte("AWS4" + secret)
	for _, p := range strings.Split(sr.scope, "/") {
		k = hmacSHA256(k, p)
	}
	return k
}

// stringToSign returns the string a request's signature is made over.
func (sr *signedRequest) stringToSign(r *http.Request) string {
	return algorithm + "\n" + sr.date.UTC().Format(amzDateFormat) + "\n" + sr.scope + "\n" + hexSHA256(canonicalRequest(r, sr))
}

// verify checks the request's signature with secret.
func (sr *signedRequest) verify(r *http.Request, secret string) error {
	want := hex.EncodeToString(hmacSHA256(sr.signingKey(secret), sr.stringToSign(r)))
	if !hmac.Equal([]byte(want), []byte(sr.signature)) {
		return apiErrorf(errSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	return nil
}

// canonicalRequest is the canonical form of r that SigV4 hashes.
func canonicalRequest(r *http.Request, sr *signedRequest) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	// The path as it came on the wire: S3 clients sign the encoded path
	// they send (and encode every byte but the unreserved ones and '/').
	b.WriteString(r.URL.EscapedPath())
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, sr.presigned))
	b.WriteByte('\n')
	for _, h := range sr.signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(sr.signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(sr.payloadHash)
	return b.String()
}

// headerValue is the canonical value of the header h: its values, trimmed,
// inner runs of spaces collapsed, joined by commas.
func headerValue(r *http.Request, h string) string {
	var vals []string
	switch h {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = r.Header.Values(h)
		if len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		vals = []string{strings.Join(r.TransferEncoding, ",")}
	default:
		vals = r.Header.Values(h)
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

// canonicalQuery sorts the query's pairs and encodes them as SigV4 wants;
// a presigned request's own signature is left out.
func canonicalQuery(raw string, presigned bool) string {
	q, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range q {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// uriEncode percent-encodes every byte of s but the unreserved ones (and
// '/' unless encodeSlash), in upper-case hex, as SigV4 specifies.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func hexSHA256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// clip shortens what a client sent before it goes into a message.
func clip(s string) string { return errors.Clip(s) }
