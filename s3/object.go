package s3

import (
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// Headers that carry what Hub knows of an object and S3 has no name for.
const (
	// HeaderCid is the object's CID: the root of its UnixFS DAG, as the
	// gateway serves it at /ipfs/<cid> (for a public bucket).
	HeaderCid = "X-Hub-Cid"
	// HeaderRoot is the bucket's root (/ipfs/<cid>) the answer was read
	// from, or that a write moved it to.
	HeaderRoot = "X-Hub-Root"
	// HeaderBucketKey is the Hub bucket key (its IPNS name) of an S3
	// bucket, on HeadBucket.
	HeaderBucketKey = "X-Hub-Bucket-Key"
)

// describe returns what S3 says of the object at p: the record S3 made
// when it wrote the object, if the file is still that one; otherwise its
// CID stands in for the ETag (quoted like an MD5, but 40 or more
// characters: not an MD5, as clients that compare then see), its type is
// guessed from its name, and it dates from the bucket's last change.
func (q *request) describe(bucketKey, p string, it hub.BucketItem, b hub.Bucket) Object {
	if q.s.cfg.Objects != nil {
		o, ok, err := q.s.cfg.Objects.Object(bucketKey, p)
		if err != nil {
			q.s.cfg.Log.Warn("s3: reading an object's record", "bucket", bucketKey, "path", p, "err", err)
		}
		if ok && o.Cid == it.Cid {
			return o
		}
		if ok {
			q.forget(bucketKey, p) // the file was replaced by other means
		}
	}
	return Object{Cid: it.Cid, ETag: it.Cid, Meta: Meta{ContentType: mime.TypeByExtension(path.Ext(p))}, Modified: b.UpdatedAt}
}

// lookupObject returns the request's key as a bucket path, and its bucket.
func (q *request) lookupObject() (string, hub.Buckets, hub.Bucket, error) {
	p, err := keyPath(q.key)
	if err != nil {
		return "", nil, hub.Bucket{}, err
	}
	bs, b, err := q.lookup()
	return p, bs, b, err
}

// readXML reads the request's body, the S3 document called doc of at
// most max bytes, into v.
func (q *request) readXML(doc string, max int64, v any) error {
	body, err := newBody(q.r, q.sig, q.sigKey)
	if err != nil {
		return err
	}
	if body.length > max {
		return apiErrorf(errMalformedXML, "the %s document is larger than %d bytes", doc, max)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if err := xml.Unmarshal(raw, v); err != nil {
		return apiErrorf(errMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema: %v", err)
	}
	return nil
}

// lookupWithBody finds the request's bucket and returns its body reader.
func (q *request) lookupWithBody() (hub.Buckets, hub.Bucket, *body, error) {
	bs, b, err := q.lookup()
	if err != nil {
		return nil, hub.Bucket{}, nil, err
	}
	body, err := newBody(q.r, q.sig, q.sigKey)
	return bs, b, body, err
}

// putObject answers PutObject: the body streams into the bucket as one
// change, applied to the bucket's current root (so writers to other keys
// never undo each other, and the last writer of a key wins, as in S3).
// With If-None-Match: * the change is applied to the root the key was
// found absent in: PreconditionFailed when the key exists, and
// ConditionalRequestConflict when the bucket changed while the body came.
func (q *request) putObject() error {
	p, err := keyPath(q.key)
	if err != nil {
		return err
	}
	meta, err := metaOf(q.r.Header)
	if err != nil {
		return err
	}
	bs, b, body, err := q.lookupWithBody()
	if err != nil {
		return err
	}
	root, err := q.writeCondition(bs, b.Key, p)
	if err != nil {
		return err
	}
	pushed, err := bs.PushPath(q.r.Context(), b.Key, p, body, root)
	if root != "" && errors.Is(errors.FailedPrecondition, err) {
		return apiErrorf(errConditionalRequestConflict, "the bucket changed while the object was written with If-None-Match; retry the request")
	}
	if err != nil {
		return err // a check of the body that failed is its *apiError
	}
	if !body.finished {
		return apiErrorf(errIncompleteBody, "the body was not read to its end")
	}
	o := Object{Cid: pushed.Cid, ETag: body.etag(), Meta: meta, Modified: pushed.Root.UpdatedAt}
	q.record(b.Key, p, o, pushed.Root.Path)
	q.w.Header().Set("ETag", `"`+o.ETag+`"`)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// writeCondition checks a write's If-None-Match (only "*", as S3) and
// returns the root the write must be applied to: the one the key was found
// absent in, or "" when the write has no condition.
func (q *request) writeCondition(bs hub.Buckets, bucketKey, p string) (string, error) {
	if q.r.Header.Get("If-Match") != "" {
		return "", apiErrorf(errNotImplemented, "If-Match on writes is not implemented by this hub yet")
	}
	v := q.r.Header.Get("If-None-Match")
	if v == "" {
		return "", nil
	}
	if strings.TrimSpace(v) != "*" {
		return "", apiErrorf(errNotImplemented, "If-None-Match on writes takes only \"*\"")
	}
	it, at, err := bs.ListPath(q.r.Context(), bucketKey, p)
	switch {
	case err == nil && !it.IsDir:
		return "", apiErrorf(errPreconditionFailed, "At least one of the pre-conditions you specified did not hold: the key exists")
	case err == nil:
		return at.Path, nil
	case errors.Is(errors.NotExist, err):
		root, err := bs.Root(q.r.Context(), bucketKey)
		return root.Path, err
	}
	return "", err
}

// record records o, the object a write put at p, and sets the headers
// that carry its CID and the bucket's new root on the answer.
func (q *request) record(bucketKey, p string, o Object, root string) {
	if q.s.cfg.Objects != nil {
		if err := q.s.cfg.Objects.SetObject(bucketKey, p, o); err != nil {
			// The object is stored; only its ETag falls back to its CID.
			q.s.cfg.Log.Warn("s3: recording an object", "bucket", bucketKey, "path", p, "err", err)
		}
	}
	q.w.Header().Set(HeaderCid, o.Cid)
	q.w.Header().Set(HeaderRoot, root)
}

// getObject answers GetObject and HeadObject, with Range and the
// If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since
// conditions.
func (q *request) getObject(head bool) error {
	p, bs, b, err := q.lookupObject()
	if err != nil {
		return err
	}
	it, at, err := bs.ListPath(q.r.Context(), b.Key, p)
	if err != nil {
		return err
	}
	if it.IsDir {
		return apiErrorf(errNoSuchKey, "The specified key does not exist.")
	}
	o := q.describe(b.Key, p, it, at)
	etag := `"` + o.ETag + `"`
	modified := time.Unix(0, o.Modified).UTC().Truncate(time.Second)
	h := q.w.Header()
	h.Set("ETag", etag)
	h.Set("Last-Modified", modified.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set(HeaderCid, it.Cid)
	h.Set(HeaderRoot, at.Path)
	o.Meta.write(h)
	if status, ok := preconditions(q.r, etag, modified); !ok {
		if status == http.StatusPreconditionFailed {
			return apiErrorf(errPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
		}
		q.w.WriteHeader(status)
		return nil
	}
	start, n := int64(0), it.Size
	status := http.StatusOK
	if rh := q.r.Header.Get("Range"); rh != "" {
		var ok bool
		start, n, ok, err = parseRange(rh, it.Size)
		if err != nil {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", it.Size))
			return err
		}
		if ok {
			status = http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, it.Size))
		}
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	if head {
		q.w.WriteHeader(status)
		return nil
	}
	// The answer has started once a byte is written; an error after that
	// can only cut the connection, which the client sees as a short body.
	w := &rangeWriter{w: q.w, skip: start, left: n, begin: func() { q.w.WriteHeader(status) }}
	_, err = bs.PullPath(q.r.Context(), b.Key, p, w)
	if err != nil && !errors.As(err, new(*rangeDone)) {
		if !w.started {
			return err
		}
		q.s.cfg.Log.Debug("s3: GetObject ended early", "target", q.target(), "err", err)
	}
	if !w.started {
		q.w.WriteHeader(status) // an empty object or range
	}
	return nil
}

// rangeWriter passes on the bytes of a range of what is written to it,
// and stops the writer (rangeDone) once the range is complete. begin, if
// set, is called before the first byte is passed on.
type rangeWriter struct {
	w       io.Writer
	skip    int64
	left    int64
	begin   func()
	started bool
}

// rangeDone is the error that ends a pull once its range is written.
type rangeDone struct{}

func (*rangeDone) Error() string { return "range written" }

func (r *rangeWriter) Write(p []byte) (int, error) {
	n := len(p)
	if r.skip > 0 {
		if int64(len(p)) <= r.skip {
			r.skip -= int64(len(p))
			return n, nil
		}
		p = p[r.skip:]
		r.skip = 0
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	if len(p) > 0 {
		if !r.started && r.begin != nil {
			r.begin()
		}
		r.started = true
		if _, err := r.w.Write(p); err != nil {
			return 0, err
		}
		r.left -= int64(len(p))
	}
	if r.left == 0 {
		return n, &rangeDone{}
	}
	return n, nil
}

// preconditions evaluates a read's conditional headers as RFC 9110 and S3
// do; when one fails it returns the status to answer with.
func preconditions(r *http.Request, etag string, modified time.Time) (int, bool) {
	match := func(list string) bool {
		for _, t := range strings.Split(list, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || t == etag || `"`+t+`"` == etag {
				return true
			}
		}
		return false
	}
	if v := r.Header.Get("If-Match"); v != "" {
		if !match(v) {
			return http.StatusPreconditionFailed, false
		}
	} else if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && modified.After(t) {
			return http.StatusPreconditionFailed, false
		}
	}
	if v := r.Header.Get("If-None-Match"); v != "" {
		if match(v) {
			return http.StatusNotModified, false
		}
	} else if v := r.Header.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !modified.After(t) {
			return http.StatusNotModified, false
		}
	}
	return 0, true
}

// parseRange reads a Range header for an object of size bytes: one range,
// "bytes=a-b", "bytes=a-" or "bytes=-n". ok is false when the header is not
// a single byte range, which S3 ignores (the whole object is sent).
func parseRange(h string, size int64) (start, n int64, ok bool, err error) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, size, false, nil
	}
	invalid := apiErrorf(errInvalidRange, "The requested range %q is not satisfiable for an object of %d bytes", clip(h), size)
	if a == "" {
		last, err := strconv.ParseInt(b, 10, 64)
		if err != nil || last < 0 {
			return 0, size, false, nil
		}
		if last == 0 || size == 0 {
			return 0, 0, false, invalid
		}
		last = min(last, size)
		return size - last, last, true, nil
	}
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil || first < 0 {
		return 0, size, false, nil
	}
	end := size - 1
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < first {
			return 0, size, false, nil
		}
		end = min(end, size-1)
	}
	if first >= size {
		return 0, 0, false, invalid
	}
	return first, end - first + 1, true, nil
}

// deleteObject answers DeleteObject: the file goes in one change; a key
// that names no file is already deleted, as S3 answers.
func (q *request) deleteObject() error {
	p, bs, b, err := q.lookupObject()
	if err != nil {
		return err
	}
	if err := q.remove(bs, b.Key, p); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// remove removes the file at p, if there is one: a directory there is not
// an object, and S3 answers keys it does not have as deleted.
func (q *request) remove(bs hub.Buckets, bucketKey, p string) error {
	it, _, err := bs.ListPath(q.r.Context(), bucketKey, p)
	if errors.Is(errors.NotExist, err) || (err == nil && it.IsDir) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := bs.RemovePath(q.r.Context(), bucketKey, p, ""); err != nil && !errors.Is(errors.NotExist, err) {
		return err
	}
	q.forget(bucketKey, p)
	return nil
}

// forget deletes the record of the object at p; a record left behind
// only takes room, since it no longer matches any file.
func (q *request) forget(bucketKey, p string) {
	if q.s.cfg.Objects == nil {
		return
	}
	if err := q.s.cfg.Objects.ForgetObject(bucketKey, p); err != nil {
		q.s.cfg.Log.Warn("s3: forgetting an object's record", "bucket", bucketKey, "path", p, "err", err)
	}
}

// maxDeleteBody bounds a DeleteObjects request: 1,000 keys of up to 1,024
// bytes, escaped, with their XML.
const maxDeleteBody = 2 << 20

type deleteRequest struct {
	Quiet   bool `xml:"Quiet"`
	Objects []struct {
		Key string `xml:"Key"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"DeleteResult"`
	Xmlns   string          `xml:"xmlns,attr"`
	Deleted []deletedObject `xml:"Deleted"`
	Errors  []deleteError   `xml:"Error"`
}

type deletedObject struct {
	Key string `xml:"Key"`
}

type deleteError struct {
	Key     string `xml:"Key"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// deleteObjects answers DeleteObjects: each key is removed as
// DeleteObject would, one change each, and reported.
func (q *request) deleteObjects() error {
	bs, b, err := q.lookup()
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := q.readXML("Delete", maxDeleteBody, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxListKeys {
		return apiErrorf(errMalformedXML, "a Delete names 1 to %d objects; this one names %d", maxListKeys, len(req.Objects))
	}
	res := deleteResult{Xmlns: xmlns}
	for _, o := range req.Objects {
		p, err := keyPath(o.Key)
		if err == nil {
			err = q.remove(bs, b.Key, p)
		}
		if err != nil {
			ae := toAPIError(err, errNoSuchKey)
			res.Errors = append(res.Errors, deleteError{Key: o.Key, Code: ae.code.Code, Message: ae.msg})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedObject{Key: o.Key})
		}
	}
	return q.reply(res)
}
