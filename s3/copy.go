package s3

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// source is the object an x-amz-copy-source names, as found.
type source struct {
	bucket hub.Bucket
	path   string
	item   hub.BucketItem
	file   io.ReadSeeker // its bytes, from the root item was read at; close the source after
	obj    Object        // what S3 says of it
}

// copySource finds the object X-Amz-Copy-Source names ("[/]bucket/key",
// URL-escaped), of the caller's buckets, and checks the
// x-amz-copy-source-if-* conditions against it (PreconditionFailed).
func (q *request) copySource() (source, error) {
	v := strings.TrimPrefix(q.r.Header.Get("X-Amz-Copy-Source"), "/")
	v, version, _ := strings.Cut(v, "?versionId=")
	if version != "" && version != "null" {
		return source{}, apiErrorf(errNotImplemented, "Hub buckets keep no object versions; copy without a versionId")
	}
	raw, err := url.PathUnescape(v)
	if err != nil {
		return source{}, apiErrorf(errInvalidArgument, "x-amz-copy-source %q is not URL-escaped bucket/key", clip(v))
	}
	name, key, ok := strings.Cut(raw, "/")
	if !ok || key == "" {
		return source{}, apiErrorf(errInvalidArgument, "x-amz-copy-source %q does not name bucket/key", clip(raw))
	}
	p, err := keyPath(key)
	if err != nil {
		return source{}, err
	}
	db := q.db
	bs, b, err := q.lookupNamed(name)
	q.db = db
	if err != nil {
		return source{}, err
	}
	it, at, file, err := q.openObject(bs, b.Key, p)
	if errors.Is(errors.NotExist, err) {
		return source{}, apiErrorf(errNoSuchKey, "The specified key does not exist: %s/%s", clip(name), clip(key))
	}
	if err != nil {
		return source{}, err
	}
	src := source{bucket: b, path: p, item: it, file: file, obj: q.describe(b.Key, p, it, at)}
	conds := http.Header{}
	for _, c := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if v := q.r.Header.Get("X-Amz-Copy-Source-" + c); v != "" {
			conds.Set(c, v)
		}
	}
	modified := time.Unix(0, src.obj.Modified).UTC().Truncate(time.Second)
	if _, ok := preconditions(&http.Request{Header: conds}, `"`+src.obj.ETag+`"`, modified); !ok {
		src.close()
		return source{}, apiErrorf(errPreconditionFailed, "At least one of the pre-conditions you specified for the copy source did not hold")
	}
	return src, nil
}

// open returns a reader of n of the source's bytes from start, read
// from where they begin.
func (s source) open(start, n int64) (io.Reader, error) {
	const op errors.Op = "s3.CopySource"
	if _, err := s.file.Seek(start, io.SeekStart); err != nil {
		return nil, errors.E(op, err)
	}
	return io.LimitReader(s.file, n), nil
}

// close releases the source's reader.
func (s source) close() {
	if c, ok := s.file.(io.Closer); ok {
		c.Close()
	}
}

// copyRange reads x-amz-copy-source-range ("bytes=a-b", both inclusive
// and within the source, as S3 requires) for an UploadPartCopy.
func copyRange(h string, size int64) (start, n int64, err error) {
	if h == "" {
		return 0, size, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	a, b, dash := strings.Cut(spec, "-")
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || !dash || err1 != nil || err2 != nil || first < 0 || last < first || last >= size {
		return 0, 0, apiErrorf(errInvalidArgument, "x-amz-copy-source-range %q must be bytes=first-last within the source's %d bytes", clip(h), size)
	}
	return first, last - first + 1, nil
}

// copyResult is S3's CopyObjectResult and CopyPartResult, by XMLName.
type copyResult struct {
	XMLName      xml.Name
	Xmlns        string `xml:"xmlns,attr"`
	ETag         string `xml:"ETag"`
	LastModified string `xml:"LastModified"`
}

// copyObject answers CopyObject: the source's bytes become the object at
// the request's key in one change, with the source's metadata
// (x-amz-metadata-directive COPY, the default) or the request's (REPLACE).
// Between public buckets the object's DAG is linked as it is; a private
// bucket on either side has its bytes read and pushed again.
func (q *request) copyObject() error {
	p, err := keyPath(q.key)
	if err != nil {
		return err
	}
	bs, b, err := q.lookup()
	if err != nil {
		return err
	}
	src, err := q.copySource()
	if err != nil {
		return err
	}
	defer src.close()
	meta := src.obj.Meta
	switch d := strings.ToUpper(q.r.Header.Get("X-Amz-Metadata-Directive")); d {
	case "", "COPY":
		if src.bucket.Key == b.Key && src.path == p {
			return apiErrorf(errInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
		}
	case "REPLACE":
		if meta, err = metaOf(q.r.Header); err != nil {
			return err
		}
	default:
		return apiErrorf(errInvalidArgument, "x-amz-metadata-directive %q is not COPY or REPLACE", clip(d))
	}
	root, err := q.writeCondition(bs, b.Key, p)
	if err != nil {
		return err
	}
	o := Object{ETag: src.obj.ETag, Meta: meta}
	var at hub.Bucket
	switch {
	case src.bucket.Key == b.Key && src.path == p:
		// A new description of the same bytes: the bucket is unchanged.
		o.Cid, at = src.item.Cid, b
		o.Modified = q.s.cfg.Now().UnixNano()
	case src.bucket.KeyID == "" && b.KeyID == "" && root == "":
		if err := bs.SetPath(q.r.Context(), b.Key, p, src.item.Cid); err != nil {
			return err
		}
		if _, at, err = bs.ListPath(q.r.Context(), b.Key, p); err != nil {
			return err
		}
		o.Cid, o.Modified = src.item.Cid, at.UpdatedAt
	default:
		r, err := src.open(0, src.item.Size)
		if err != nil {
			return err
		}
		h := md5.New()
		pushed, err := bs.PushPath(q.r.Context(), b.Key, p, io.TeeReader(r, h), root)
		if root != "" && errors.Is(errors.FailedPrecondition, err) {
			return apiErrorf(errConditionalRequestConflict, "the bucket changed while the object was copied with If-Match or If-None-Match; retry the request")
		}
		if err != nil {
			return err
		}
		o.Cid, o.ETag, o.Modified, at = pushed.Cid, hex.EncodeToString(h.Sum(nil)), pushed.Root.UpdatedAt, pushed.Root
	}
	q.record(b.Key, p, o, at.Path)
	return q.reply(copyResult{XMLName: xml.Name{Local: "CopyObjectResult"}, Xmlns: xmlns, ETag: `"` + o.ETag + `"`, LastModified: isoTime(o.Modified)})
}
