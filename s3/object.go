package s3

import (
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"path"
	"slices"
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
// With If-None-Match: * or If-Match the change is applied to the root the
// condition was checked at: PreconditionFailed when it does not hold, and
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
		return apiErrorf(errConditionalRequestConflict, "the bucket changed while the object was written with If-Match or If-None-Match; retry the request")
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

// writeCondition checks a write's If-Match (the key's current ETag, as
// GetObject reports it) and If-None-Match (only "*", as S3) and returns
// the root the write must be applied to: the one the conditions held at,
// or "" when the write has none. If-Match on a key that names no object is
// NoSuchKey, as S3 answers.
func (q *request) writeCondition(bs hub.Buckets, bucketKey, p string) (string, error) {
	match, none := q.r.Header.Get("If-Match"), q.r.Header.Get("If-None-Match")
	if match == "" && none == "" {
		return "", nil
	}
	if none != "" && strings.TrimSpace(none) != "*" {
		return "", apiErrorf(errNotImplemented, "If-None-Match on writes takes only \"*\"")
	}
	it, at, err := bs.ListPath(q.r.Context(), bucketKey, p)
	exists := err == nil && !it.IsDir
	if errors.Is(errors.NotExist, err) {
		at, err = bs.Root(q.r.Context(), bucketKey)
	}
	if err != nil {
		return "", err
	}
	if match != "" && !exists {
		return "", apiErrorf(errNoSuchKey, "The specified key does not exist, so If-Match has no object to match")
	}
	if match != "" && !etagMatches(match, `"`+q.describe(bucketKey, p, it, at).ETag+`"`) {
		return "", apiErrorf(errPreconditionFailed, "At least one of the pre-conditions you specified did not hold: If-Match names another ETag than the object's")
	}
	if none != "" && exists {
		return "", apiErrorf(errPreconditionFailed, "At least one of the pre-conditions you specified did not hold: the key exists")
	}
	return at.Path, nil
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

// getObject answers GetObject and HeadObject, with Range or partNumber
// and the If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since conditions. The headers and the body come from one
// root of the bucket (OpenPath), and a range is read from where it starts:
// the reader seeks through the file's DAG instead of reading what lies
// before it.
func (q *request) getObject(head bool) error {
	const op errors.Op = "s3.GetObject"
	p, bs, b, err := q.lookupObject()
	if err != nil {
		return err
	}
	it, at, file, err := q.openObject(bs, b.Key, p)
	if err != nil {
		return err
	}
	if c, ok := file.(io.Closer); ok {
		defer c.Close()
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
	if len(o.Parts) > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(len(o.Parts)))
	}
	if status, ok := preconditions(q.r, etag, modified); !ok {
		if status == http.StatusPreconditionFailed {
			return apiErrorf(errPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
		}
		q.w.WriteHeader(status)
		return nil
	}
	start, n, status, err := q.readRange(o, it.Size)
	if err != nil {
		return err
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	if head {
		q.w.WriteHeader(status)
		return nil
	}
	if _, err := file.Seek(start, io.SeekStart); err != nil {
		return errors.E(op, err)
	}
	// The answer has started once the status is written; an error after
	// that can only cut the connection, which the client sees as a short
	// body.
	q.w.WriteHeader(status)
	if _, err := io.CopyN(q.w, file, n); err != nil {
		q.s.cfg.Log.Debug("s3: GetObject ended early", "target", q.target(), "err", err)
	}
	return nil
}

// openObject opens the file at p for reading at any offset, with its
// description and the bucket at the root it was read from (see
// hub.PathOpener); a directory there is no object (NoSuchKey).
func (q *request) openObject(bs hub.Buckets, bucketKey, p string) (hub.BucketItem, hub.Bucket, io.ReadSeeker, error) {
	const op errors.Op = "s3.openObject"
	opener, ok := bs.(hub.PathOpener)
	if !ok {
		return hub.BucketItem{}, hub.Bucket{}, nil, errors.E(op, errors.Internal, "the bucket service cannot open files for reading at an offset")
	}
	it, at, file, err := opener.OpenPath(q.r.Context(), bucketKey, p)
	if err == nil && it.IsDir {
		err = errors.E(op, errors.NotExist, "The specified key does not exist.")
	}
	return it, at, file, err
}

// maxPartNumber is the highest part number S3 has.
const maxPartNumber = 10_000

// readRange returns the bytes of object o (of size bytes) a read asks
// for, by its Range header or its partNumber, and the status to answer
// with; it sets Content-Range when that is a part of the object.
func (q *request) readRange(o Object, size int64) (start, n int64, status int, err error) {
	h := q.w.Header()
	rh := q.r.Header.Get("Range")
	pn := q.r.URL.Query().Get("partNumber")
	switch {
	case rh != "" && pn != "":
		return 0, 0, 0, apiErrorf(errInvalidRequest, "Cannot specify both Range header and partNumber query parameter")
	case pn != "":
		num, err := strconv.Atoi(pn)
		if err != nil || num < 1 || num > maxPartNumber {
			return 0, 0, 0, apiErrorf(errInvalidArgument, "Part number must be an integer between 1 and %d, inclusive; got %q", maxPartNumber, clip(pn))
		}
		start, n, ok := partOf(o.Parts, num, size)
		if !ok {
			return 0, 0, 0, apiErrorf(errInvalidPartNumber, "The requested partnumber is not satisfiable: the object has %d parts", max(len(o.Parts), 1))
		}
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, size))
		return start, n, http.StatusPartialContent, nil
	case rh != "":
		start, n, ok, err := parseRange(rh, size)
		if err != nil {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			return 0, 0, 0, err
		}
		if ok {
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, size))
			return start, n, http.StatusPartialContent, nil
		}
	}
	return 0, size, http.StatusOK, nil
}

// partOf returns where part num (from 1) of an object of size bytes
// starts and its length, given the sizes of its parts: an object put in
// one piece (no sizes) is its own part 1.
func partOf(parts []int64, num int, size int64) (start, n int64, ok bool) {
	if len(parts) == 0 {
		return 0, size, num == 1
	}
	if num > len(parts) {
		return 0, 0, false
	}
	for _, p := range parts[:num-1] {
		start += p
	}
	return start, parts[num-1], true
}

// etagMatches reports whether list, the value of an If-Match or
// If-None-Match header, names etag (quoted) or is "*".
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == etag || `"`+t+`"` == etag {
			return true
		}
	}
	return false
}

// preconditions evaluates a read's conditional headers as RFC 9110 and S3
// do; when one fails it returns the status to answer with.
func preconditions(r *http.Request, etag string, modified time.Time) (int, bool) {
	match := func(list string) bool { return etagMatches(list, etag) }
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
	if err := q.removeAll(bs, b.Key, []string{p}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
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

// deleteObjects answers DeleteObjects: the keys that name files are
// removed in one change of the bucket, and every key is reported. A key
// that names no file is already deleted, as S3 answers; when a key's file
// goes by other means between the look and the change, the look is
// repeated. A change the bucket refuses (a path role that does not let the
// caller write one of the keys, say) fails every key it held.
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
	failed := func(key string, err error) {
		ae := toAPIError(err, errNoSuchKey)
		res.Errors = append(res.Errors, deleteError{Key: key, Code: ae.code.Code, Message: ae.msg})
	}
	paths := map[string]string{} // by key, the valid ones
	for _, o := range req.Objects {
		p, err := keyPath(o.Key)
		if err != nil {
			failed(o.Key, err)
			continue
		}
		paths[o.Key] = p
	}
	if err := q.removeAll(bs, b.Key, slices.Sorted(maps.Values(paths))); err != nil {
		for k := range paths {
			failed(k, err)
		}
		clear(paths)
	}
	for _, o := range req.Objects {
		if _, ok := paths[o.Key]; ok && !req.Quiet {
			res.Deleted = append(res.Deleted, deletedObject{Key: o.Key})
			delete(paths, o.Key) // a key named twice is reported once
		}
	}
	return q.reply(res)
}

// removeTries bounds how often removeAll looks again for the files of
// its paths after one went by other means.
const removeTries = 4

// removeAll removes, in one change, those of paths that name files: a
// directory there is not an object, and S3 answers keys it does not have
// as deleted.
func (q *request) removeAll(bs hub.Buckets, bucketKey string, paths []string) error {
	const op errors.Op = "s3.removeAll"
	remover, ok := bs.(hub.PathsRemover)
	if !ok {
		return errors.E(op, errors.Internal, "the bucket service cannot remove several paths at once")
	}
	paths = slices.Compact(paths)
	for try := 1; ; try++ {
		var files []string
		for _, p := range paths {
			it, _, err := bs.ListPath(q.r.Context(), bucketKey, p)
			switch {
			case err == nil && !it.IsDir:
				files = append(files, p)
			case err != nil && !errors.Is(errors.NotExist, err):
				return err
			}
		}
		if len(files) == 0 {
			return nil
		}
		_, err := remover.RemovePaths(q.r.Context(), bucketKey, files, "")
		if errors.Is(errors.NotExist, err) && try < removeTries {
			continue
		}
		if err != nil {
			return err
		}
		for _, p := range files {
			q.forget(bucketKey, p)
		}
		return nil
	}
}
