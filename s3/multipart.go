package s3

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// Multipart uploads keep their parts as files of a staging bucket of the
// caller's buckets DB, at <upload ID>/<part number>: a part is stored as
// durably as a push, counts against the account's quota, is encrypted at
// rest when its bucket is private, and is kept from garbage collection by
// the staging bucket's root. The hub's store records each upload and part
// (Uploads). Completing an upload links the object at its key in one
// change of the target bucket, then removes the parts' directory.

// Limits and defaults of multipart uploads.
const (
	// DefaultMaxUploads bounds the multipart uploads an account has open.
	DefaultMaxUploads = 100
	// DefaultMaxParts bounds the parts of one upload: S3's own limit.
	DefaultMaxParts = 10000
	// DefaultUploadTTL is how long an upload may stay open before the
	// hub aborts it and releases its parts.
	DefaultUploadTTL = 7 * 24 * time.Hour
	// minPartSize is S3's smallest part but the last.
	minPartSize = 5 << 20
	// maxCompleteBody bounds a CompleteMultipartUpload document: 10,000
	// parts with their ETags and XML.
	maxCompleteBody = 2 << 20
)

// stagingName is the Hub bucket that holds the parts of the uploads to
// the caller's public buckets; private ones use stagingName+"-private".
// Neither is a valid S3 bucket name, so S3 never shows them.
const stagingName = ".s3-multipart"

// staging returns the caller's staging bucket, private or not, making it
// on first use; of several, the oldest.
func (q *request) staging(bs hub.Buckets, private bool) (hub.Bucket, error) {
	name := stagingName
	if private {
		name += "-private"
	}
	q.s.stagingMu.Lock()
	defer q.s.stagingMu.Unlock()
	list, err := bs.List(q.r.Context())
	if err != nil {
		return hub.Bucket{}, err
	}
	var found hub.Bucket
	for _, b := range list {
		if b.Name == name && (found.Key == "" || b.CreatedAt < found.CreatedAt) {
			found = b
		}
	}
	if found.Key != "" {
		return found, nil
	}
	created, err := bs.Create(q.r.Context(), name, hub.BucketOptions{Private: private})
	return created.Root, err
}

// partPath is where part n of upload id is kept in its staging bucket.
func partPath(id string, n int) string { return fmt.Sprintf("%s/%05d", id, n) }

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	UploadID string   `xml:"UploadId"`
}

// createUpload answers CreateMultipartUpload.
func (q *request) createUpload() error {
	p, err := keyPath(q.key)
	if err != nil {
		return err
	}
	meta, err := metaOf(q.r.Header)
	if err != nil {
		return err
	}
	bs, b, err := q.lookup()
	if err != nil {
		return err
	}
	st, err := q.staging(bs, b.KeyID != "")
	if err != nil {
		return err
	}
	var raw [16]byte
	rand.Read(raw[:])
	u := Upload{ID: hex.EncodeToString(raw[:]), BucketKey: b.Key, Key: p, DB: q.db, Staging: st.Key,
		Kind: q.p.Kind, Account: q.p.Account, Initiated: q.s.cfg.Now().UnixNano(), Meta: meta}
	if err := q.s.cfg.Uploads.Create(u, q.s.cfg.MaxUploads); err != nil {
		return err
	}
	return q.reply(initiateResult{Xmlns: xmlns, Bucket: q.bucket, Key: q.key, UploadID: u.ID})
}

// upload returns the upload the request names (uploadId) and its bucket:
// NoSuchUpload unless it is an upload of the request's bucket and key.
func (q *request) upload() (Upload, hub.Buckets, hub.Bucket, error) {
	p, bs, b, err := q.lookupObject()
	if err != nil {
		return Upload{}, nil, hub.Bucket{}, err
	}
	u, ok, err := q.s.cfg.Uploads.Get(b.Key, q.r.URL.Query().Get("uploadId"))
	if err != nil {
		return Upload{}, nil, hub.Bucket{}, err
	}
	if !ok || u.Key != p {
		return Upload{}, nil, hub.Bucket{}, apiErrorf(errNoSuchUpload, "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	}
	return u, bs, b, nil
}

// partNumber returns the request's partNumber, 1 to MaxParts.
func (q *request) partNumber() (int, error) {
	n, err := strconv.Atoi(q.r.URL.Query().Get("partNumber"))
	if err != nil || n < 1 || n > q.s.cfg.MaxParts {
		return 0, apiErrorf(errInvalidArgument, "Part number must be an integer between 1 and %d, inclusive", q.s.cfg.MaxParts)
	}
	return n, nil
}

// uploadPart answers UploadPart and, with x-amz-copy-source,
// UploadPartCopy: the part is pushed to the staging bucket, replacing an
// earlier upload of the same number.
func (q *request) uploadPart() error {
	n, err := q.partNumber()
	if err != nil {
		return err
	}
	u, bs, _, err := q.upload()
	if err != nil {
		return err
	}
	var src io.Reader
	check := func() error { return nil }
	copied := q.r.Header.Get("X-Amz-Copy-Source") != ""
	if copied {
		from, err := q.copySource()
		if err != nil {
			return err
		}
		defer from.close()
		start, n, err := copyRange(q.r.Header.Get("X-Amz-Copy-Source-Range"), from.item.Size)
		if err != nil {
			return err
		}
		if src, err = from.open(start, n); err != nil {
			return err
		}
	} else {
		body, err := newBody(q.r, q.sig, q.sigKey)
		if err != nil {
			return err
		}
		src = body
		check = func() error {
			if !body.finished {
				return apiErrorf(errIncompleteBody, "the body was not read to its end")
			}
			return nil
		}
	}
	h := md5.New()
	pushed, err := bs.PushPath(q.r.Context(), u.Staging, partPath(u.ID, n), io.TeeReader(src, h), "")
	if err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	part := Part{Number: n, Cid: pushed.Cid, ETag: hex.EncodeToString(h.Sum(nil)), Size: pushed.Size, Modified: q.s.cfg.Now().UnixNano()}
	if err := q.s.cfg.Uploads.SetPart(u.ID, part); err != nil {
		return err
	}
	// An abort that ran while the part came may have missed its file: if
	// the upload is gone now, the part removes itself.
	if _, ok, err := q.s.cfg.Uploads.Get(u.BucketKey, u.ID); err == nil && !ok {
		q.s.abort(q.r.Context(), bs, u)
		return apiErrorf(errNoSuchUpload, "The multipart upload was aborted while the part was uploaded.")
	}
	etag := `"` + part.ETag + `"`
	if copied {
		return q.reply(copyResult{XMLName: xml.Name{Local: "CopyPartResult"}, Xmlns: xmlns, ETag: etag, LastModified: isoTime(part.Modified)})
	}
	q.w.Header().Set("ETag", etag)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

type completeRequest struct {
	Parts []struct {
		PartNumber int    `xml:"PartNumber"`
		ETag       string `xml:"ETag"`
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// completeUpload answers CompleteMultipartUpload: the parts named, in
// order, become the object in one change of the bucket, and the upload
// ends. Its ETag is the MD5 of the parts' MD5s, with "-<parts>".
func (q *request) completeUpload() error {
	u, bs, b, err := q.upload()
	if err != nil {
		return err
	}
	if q.r.Header.Get("If-Match") != "" || q.r.Header.Get("If-None-Match") != "" {
		return apiErrorf(errNotImplemented, "If-Match and If-None-Match on CompleteMultipartUpload are not implemented by this hub yet; check the key with HeadObject first")
	}
	var req completeRequest
	if err := q.readXML("CompleteMultipartUpload", maxCompleteBody, &req); err != nil {
		return err
	}
	parts, err := q.chosenParts(u, bs, req)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	sums := md5.New()
	for _, p := range parts {
		m, _ := hex.DecodeString(p.ETag)
		sums.Write(m)
	}
	o := Object{ETag: fmt.Sprintf("%s-%d", hex.EncodeToString(sums.Sum(nil)), len(parts)), Meta: u.Meta, Parts: make([]int64, len(parts))}
	for i, p := range parts {
		o.Parts[i] = p.Size
	}
	root, err := q.assemble(ctx, bs, b, u, parts, &o)
	if err != nil {
		return err
	}
	q.s.abort(ctx, bs, u)
	q.record(b.Key, u.Key, o, root)
	return q.reply(completeResult{Xmlns: xmlns, Location: "/" + q.bucket + "/" + q.key, Bucket: q.bucket, Key: q.key, ETag: `"` + o.ETag + `"`})
}

// chosenParts returns the parts a Complete names, after checking them as
// S3 does: ascending numbers (InvalidPartOrder), each uploaded with the
// ETag given (InvalidPart), each but the last at least 5 MiB
// (EntityTooSmall), and each still the file its record describes.
func (q *request) chosenParts(u Upload, bs hub.Buckets, req completeRequest) ([]Part, error) {
	if len(req.Parts) == 0 {
		return nil, apiErrorf(errMalformedXML, "a CompleteMultipartUpload names at least one part")
	}
	stored, err := q.s.cfg.Uploads.Parts(u.ID)
	if err != nil {
		return nil, err
	}
	byNumber := map[int]Part{}
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	dir, _, err := bs.ListPath(q.r.Context(), u.Staging, u.ID)
	if err != nil && !errors.Is(errors.NotExist, err) {
		return nil, err
	}
	files := map[string]string{}
	for _, it := range dir.Items {
		files[it.Name] = it.Cid
	}
	out := make([]Part, len(req.Parts))
	for i, rp := range req.Parts {
		if i > 0 && rp.PartNumber <= req.Parts[i-1].PartNumber {
			return nil, apiErrorf(errInvalidPartOrder, "The list of parts was not in ascending order: part %d follows part %d", rp.PartNumber, req.Parts[i-1].PartNumber)
		}
		p, ok := byNumber[rp.PartNumber]
		if !ok || strings.Trim(rp.ETag, `"`) != p.ETag || files[fmt.Sprintf("%05d", p.Number)] != p.Cid {
			return nil, apiErrorf(errInvalidPart, "One or more of the specified parts could not be found: part %d with ETag %s has not been uploaded (or is being uploaded again)", rp.PartNumber, clip(rp.ETag))
		}
		if i < len(req.Parts)-1 && p.Size < minPartSize {
			return nil, apiErrorf(errEntityTooSmall, "Your proposed upload is smaller than the minimum allowed object size: part %d is %d bytes; every part but the last must be at least %d", p.Number, p.Size, minPartSize)
		}
		out[i] = p
	}
	return out, nil
}

// assemble makes the parts the object at u's key in one change of the
// bucket, filling in o's CID and time, and returns the bucket's new root.
// In a public bucket the object's DAG links the parts' DAGs (concat); a
// private bucket's parts are encrypted under the staging bucket's keys, so
// they are read and pushed again.
func (q *request) assemble(ctx context.Context, bs hub.Buckets, b hub.Bucket, u Upload, parts []Part, o *Object) (string, error) {
	if b.KeyID != "" || q.s.cfg.DAG == nil {
		r, w := io.Pipe()
		go func() {
			for _, p := range parts {
				if _, err := bs.PullPath(ctx, u.Staging, partPath(u.ID, p.Number), w); err != nil {
					w.CloseWithError(err)
					return
				}
			}
			w.Close()
		}()
		pushed, err := bs.PushPath(ctx, b.Key, u.Key, r, "")
		r.CloseWithError(io.ErrClosedPipe)
		if err != nil {
			return "", err
		}
		o.Cid, o.Modified = pushed.Cid, pushed.Root.UpdatedAt
		return pushed.Root.Path, nil
	}
	if q.s.cfg.Hold != nil {
		var release func()
		ctx, release = q.s.cfg.Hold(ctx)
		defer release()
	}
	cids := make([]cid.Cid, len(parts))
	sizes := make([]uint64, len(parts))
	for i, p := range parts {
		c, err := cid.Decode(p.Cid)
		if err != nil {
			return "", errors.E(errors.Internal, err)
		}
		cids[i], sizes[i] = c, uint64(p.Size)
	}
	c, err := concat(ctx, q.s.cfg.DAG, cids, sizes)
	if err != nil {
		return "", err
	}
	if err := bs.SetPath(ctx, b.Key, u.Key, c.String()); err != nil {
		return "", err
	}
	it, at, err := bs.ListPath(ctx, b.Key, u.Key)
	if err != nil {
		return "", err
	}
	o.Cid, o.Modified = it.Cid, at.UpdatedAt
	return at.Path, nil
}

// abortUpload answers AbortMultipartUpload.
func (q *request) abortUpload() error {
	u, bs, _, err := q.upload()
	if err != nil {
		return err
	}
	if err := q.s.abort(q.r.Context(), bs, u); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// abort ends upload u: its records go, then its parts' directory.
func (s *Server) abort(ctx context.Context, bs hub.Buckets, u Upload) error {
	if err := s.cfg.Uploads.Delete(u); err != nil {
		return err
	}
	if _, err := bs.RemovePath(ctx, u.Staging, u.ID, ""); err != nil && !errors.Is(errors.NotExist, err) {
		// The parts stay in the staging bucket, visible through the Hub
		// API, until removed there; the upload is gone either way.
		s.cfg.Log.Warn("s3: removing an ended upload's parts", "staging", u.Staging, "upload", u.ID, "err", err)
	}
	return nil
}

type listPartsResult struct {
	XMLName              xml.Name   `xml:"ListPartsResult"`
	Xmlns                string     `xml:"xmlns,attr"`
	Bucket               string     `xml:"Bucket"`
	Key                  string     `xml:"Key"`
	UploadID             string     `xml:"UploadId"`
	Initiator            owner      `xml:"Initiator"`
	Owner                owner      `xml:"Owner"`
	StorageClass         string     `xml:"StorageClass"`
	PartNumberMarker     int        `xml:"PartNumberMarker"`
	NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
	MaxParts             int        `xml:"MaxParts"`
	IsTruncated          bool       `xml:"IsTruncated"`
	Parts                []partInfo `xml:"Part"`
}

type partInfo struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
}

// listParts answers ListParts, from part-number-marker, max-parts at a
// time (at most 1,000).
func (q *request) listParts() error {
	u, _, _, err := q.upload()
	if err != nil {
		return err
	}
	qs := q.r.URL.Query()
	marker, _ := strconv.Atoi(qs.Get("part-number-marker"))
	max, err := maxParam(qs.Get("max-parts"), "max-parts")
	if err != nil {
		return err
	}
	parts, err := q.s.cfg.Uploads.Parts(u.ID)
	if err != nil {
		return err
	}
	res := listPartsResult{Xmlns: xmlns, Bucket: q.bucket, Key: q.key, UploadID: u.ID, Initiator: q.owner(), Owner: q.owner(),
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: max, Parts: []partInfo{}}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(res.Parts) == max {
			res.IsTruncated = true
			break
		}
		res.Parts = append(res.Parts, partInfo{PartNumber: p.Number, LastModified: isoTime(p.Modified), ETag: `"` + p.ETag + `"`, Size: p.Size})
		res.NextPartNumberMarker = p.Number
	}
	return q.reply(res)
}

// maxParam reads a max-* query parameter: 0 to 1,000, and 1,000 when
// absent.
func maxParam(v, name string) (int, error) {
	if v == "" {
		return maxListKeys, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, apiErrorf(errInvalidArgument, "%s must be a non-negative integer", name)
	}
	return min(n, maxListKeys), nil
}

type listUploadsResult struct {
	XMLName            xml.Name     `xml:"ListMultipartUploadsResult"`
	Xmlns              string       `xml:"xmlns,attr"`
	Bucket             string       `xml:"Bucket"`
	KeyMarker          string       `xml:"KeyMarker"`
	UploadIDMarker     string       `xml:"UploadIdMarker"`
	NextKeyMarker      string       `xml:"NextKeyMarker"`
	NextUploadIDMarker string       `xml:"NextUploadIdMarker"`
	Prefix             string       `xml:"Prefix"`
	MaxUploads         int          `xml:"MaxUploads"`
	IsTruncated        bool         `xml:"IsTruncated"`
	Uploads            []uploadInfo `xml:"Upload"`
}

type uploadInfo struct {
	Key          string `xml:"Key"`
	UploadID     string `xml:"UploadId"`
	Initiator    owner  `xml:"Initiator"`
	Owner        owner  `xml:"Owner"`
	StorageClass string `xml:"StorageClass"`
	Initiated    string `xml:"Initiated"`
}

// listUploads answers ListMultipartUploads: the bucket's open uploads by
// key, then by initiation, under prefix and after key-marker (and
// upload-id-marker within it), max-uploads at a time.
func (q *request) listUploads() error {
	_, b, err := q.lookup()
	if err != nil {
		return err
	}
	qs := q.r.URL.Query()
	max, err := maxParam(qs.Get("max-uploads"), "max-uploads")
	if err != nil {
		return err
	}
	list, err := q.s.cfg.Uploads.List(b.Key)
	if err != nil {
		return err
	}
	keyMarker, idMarker := qs.Get("key-marker"), qs.Get("upload-id-marker")
	res := listUploadsResult{Xmlns: xmlns, Bucket: q.bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker,
		Prefix: qs.Get("prefix"), MaxUploads: max, Uploads: []uploadInfo{}}
	passed := false // past the upload-id-marker within the key-marker
	for _, u := range list {
		if !strings.HasPrefix(u.Key, res.Prefix) || u.Key < keyMarker {
			continue
		}
		if keyMarker != "" && u.Key == keyMarker {
			if !passed {
				passed = idMarker != "" && u.ID == idMarker
				continue
			}
		}
		if len(res.Uploads) == max {
			res.IsTruncated = true
			break
		}
		res.Uploads = append(res.Uploads, uploadInfo{Key: u.Key, UploadID: u.ID, Initiator: q.owner(), Owner: q.owner(),
			StorageClass: "STANDARD", Initiated: isoTime(u.Initiated)})
		res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.ID
	}
	return q.reply(res)
}

// CollectUploads aborts the multipart uploads initiated before cutoff,
// releasing their parts to garbage collection, and returns how many.
func (s *Server) CollectUploads(ctx context.Context, cutoff time.Time) (int, error) {
	all, err := s.cfg.Uploads.All()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range all {
		if u.Initiated >= cutoff.UnixNano() {
			continue
		}
		if err := s.abort(ctx, s.cfg.Buckets.Buckets(u.principal(), u.DB), u); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// RunUploadCollector aborts uploads older than the configured UploadTTL
// every interval until ctx ends. It is what hubd runs in the background.
func (s *Server) RunUploadCollector(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.CollectUploads(ctx, s.cfg.Now().Add(-s.cfg.UploadTTL))
			if err != nil && ctx.Err() == nil {
				s.cfg.Log.Warn("s3: collecting abandoned multipart uploads", "err", err)
			} else if n > 0 {
				s.cfg.Log.Info("s3: collected abandoned multipart uploads", "uploads", n)
			}
		}
	}
}
