package s3

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// dbName is the DB whose buckets S3 reaches: the one the JavaScript
// client's getOrCreate and `hub buck init` use.
const dbName = "buckets"

// xmlns is the namespace of S3's documents.
const xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"

// bucketsDB returns the caller's DB named "buckets", making it when create
// is set; without one (and without create) ok is false.
func (q *request) bucketsDB(create bool) (db hub.ThreadID, ok bool, err error) {
	ctx := q.r.Context()
	th := q.s.cfg.Threads.Threads(q.p)
	for attempt := 0; ; attempt++ {
		dbs, err := th.ListDBs(ctx)
		if err != nil {
			return "", false, err
		}
		for _, d := range dbs {
			if d.Name == dbName {
				return d.ID, true, nil
			}
		}
		if !create {
			return "", false, nil
		}
		id, err := th.NewDB(ctx, "", hub.DBOptions{Name: dbName})
		if err == nil {
			return id, true, nil
		}
		// Another request made it first: list again, once.
		if !errors.Is(errors.Exist, err) || attempt > 0 {
			return "", false, err
		}
	}
}

// s3Buckets returns the caller's buckets as S3 sees them: by name, those
// whose names are valid S3 bucket names, the oldest of each name.
func s3Buckets(list []hub.Bucket) map[string]hub.Bucket {
	out := map[string]hub.Bucket{}
	for _, b := range list {
		if !validBucketName(b.Name) {
			continue
		}
		if o, ok := out[b.Name]; !ok || b.CreatedAt < o.CreatedAt {
			out[b.Name] = b
		}
	}
	return out
}

// lookup returns the service bound to the caller's buckets DB and the
// bucket named q.bucket (NoSuchBucket when there is none).
func (q *request) lookup() (hub.Buckets, hub.Bucket, error) { return q.lookupNamed(q.bucket) }

// lookupNamed is lookup of the bucket called name; it sets q.db.
func (q *request) lookupNamed(name string) (hub.Buckets, hub.Bucket, error) {
	if !validBucketName(name) {
		return nil, hub.Bucket{}, apiErrorf(errNoSuchBucket, "The specified bucket does not exist: %q is not a valid S3 bucket name", clip(name))
	}
	db, ok, err := q.bucketsDB(false)
	if err != nil {
		return nil, hub.Bucket{}, err
	}
	if ok {
		q.db = db
		bs := q.s.cfg.Buckets.Buckets(q.p, db)
		list, err := bs.List(q.r.Context())
		if err != nil {
			return nil, hub.Bucket{}, err
		}
		if b, ok := s3Buckets(list)[name]; ok {
			return bs, b, nil
		}
	}
	return nil, hub.Bucket{}, apiErrorf(errNoSuchBucket, "The specified bucket does not exist")
}

type listAllMyBucketsResult struct {
	XMLName xml.Name     `xml:"ListAllMyBucketsResult"`
	Xmlns   string       `xml:"xmlns,attr"`
	Owner   owner        `xml:"Owner"`
	Buckets []bucketInfo `xml:"Buckets>Bucket"`
}

type owner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type bucketInfo struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
}

func (q *request) owner() owner {
	o := string(q.p.Owner())
	return owner{ID: o, DisplayName: o}
}

// listBuckets answers ListBuckets: the S3-named buckets of the caller's
// buckets DB, by name.
func (q *request) listBuckets() error {
	res := listAllMyBucketsResult{Xmlns: xmlns, Owner: q.owner(), Buckets: []bucketInfo{}}
	db, ok, err := q.bucketsDB(false)
	if err != nil {
		return err
	}
	if ok {
		list, err := q.s.cfg.Buckets.Buckets(q.p, db).List(q.r.Context())
		if err != nil {
			return err
		}
		for name, b := range s3Buckets(list) {
			res.Buckets = append(res.Buckets, bucketInfo{Name: name, CreationDate: isoTime(b.CreatedAt)})
		}
		slices.SortFunc(res.Buckets, func(a, b bucketInfo) int { return strings.Compare(a.Name, b.Name) })
	}
	return q.reply(res)
}

// createBucket answers CreateBucket: a public Hub bucket of that name in
// the caller's buckets DB (made if it has none). The body (a location
// constraint) is not read: the hub has one region.
func (q *request) createBucket() error {
	if !validBucketName(q.bucket) {
		return apiErrorf(errInvalidBucketName, "%q is not a valid S3 bucket name: use 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit", clip(q.bucket))
	}
	db, _, err := q.bucketsDB(true)
	if err != nil {
		return err
	}
	bs := q.s.cfg.Buckets.Buckets(q.p, db)
	list, err := bs.List(q.r.Context())
	if err != nil {
		return err
	}
	if _, ok := s3Buckets(list)[q.bucket]; ok {
		return apiErrorf(errBucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
	}
	if _, err := bs.Create(q.r.Context(), q.bucket, hub.BucketOptions{}); err != nil {
		return err
	}
	q.w.Header().Set("Location", "/"+q.bucket)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucket answers DeleteBucket: the Hub bucket goes, if it holds no
// object (BucketNotEmpty otherwise).
func (q *request) deleteBucket() error {
	bs, b, err := q.lookup()
	if err != nil {
		return err
	}
	l := &lister{ctx: q.r.Context(), bs: bs, key: b.Key, max: 1}
	if err := l.walk(""); err != nil {
		return err
	}
	if len(l.out) > 0 {
		return apiErrorf(errBucketNotEmpty, "The bucket you tried to delete is not empty")
	}
	if err := bs.Remove(q.r.Context(), b.Key); err != nil {
		return err
	}
	if q.s.cfg.Objects != nil {
		if err := q.s.cfg.Objects.Forget(b.Key); err != nil {
			q.s.cfg.Log.Warn("s3: forgetting a removed bucket's objects", "bucket", b.Key, "err", err)
		}
	}
	// Its open multipart uploads end with it, releasing their parts.
	if ups, err := q.s.cfg.Uploads.List(b.Key); err == nil {
		for _, u := range ups {
			q.s.abort(q.r.Context(), bs, u)
		}
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// headBucket answers HeadBucket, with the Hub bucket's key and root.
func (q *request) headBucket() error {
	_, b, err := q.lookup()
	if err != nil {
		return err
	}
	q.w.Header().Set(HeaderBucketKey, b.Key)
	q.w.Header().Set(HeaderRoot, b.Path)
	q.w.Header().Set("x-amz-bucket-region", region)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	Xmlns   string   `xml:"xmlns,attr"`
	Region  string   `xml:",chardata"`
}

// bucketLocation answers GetBucketLocation: the hub's one region, which S3
// spells as empty for us-east-1.
func (q *request) bucketLocation() error {
	if _, _, err := q.lookup(); err != nil {
		return err
	}
	return q.reply(locationConstraint{Xmlns: xmlns})
}

// region is the region the hub reports; clients sign with whichever they
// are configured for, and the hub accepts any.
const region = "us-east-1"

// isoTime formats Unix nanoseconds as S3's timestamps.
func isoTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000Z")
}
