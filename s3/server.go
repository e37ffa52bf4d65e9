package s3

import (
	"context"
	"encoding/xml"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/metering"
)

// Authenticator turns an access key ID into the principal it acts as,
// handing the key's secret to verify, which checks the request's signature
// with it. auth.Service is one.
type Authenticator interface {
	AuthenticateSigned(ctx context.Context, key string, verify func(secret string) error) (hub.Principal, error)
}

// Config is what the S3 front end serves from.
type Config struct {
	Auth    Authenticator
	Buckets hub.BucketServer
	Threads hub.ThreadServer
	Objects ObjectStore // what S3 records about the objects it wrote
	Uploads *Uploads    // the records of multipart uploads in progress
	// DAG reads and stores blocks of the hub's blockstore; Complete links
	// the parts' DAGs of an upload to a public bucket through it into
	// one file, instead of reading them again. Hold keeps what an
	// operation stores from a garbage collection until the operation
	// ends (blockstore.GC.Hold). Without DAG, parts are read and pushed.
	DAG  ipld.DAGService
	Hold func(context.Context) (context.Context, func())
	// MaxUploads bounds the multipart uploads open per account,
	// MaxParts the parts of one; UploadTTL is how long an upload may stay
	// open before RunUploadCollector aborts it. Zero means the default.
	MaxUploads int
	MaxParts   int
	UploadTTL  time.Duration
	// Domain, when set, serves virtual-hosted-style requests: the host
	// <bucket>.<Domain> names the bucket. Path-style requests are always
	// served.
	Domain string
	// Meter, if set, counts the bytes of each answer as the egress of
	// the caller it was signed by, as the Hub API's edge does.
	Meter Meter
	Log   *slog.Logger
	Now   func() time.Time // the clock signatures are checked against; time.Now when nil
}

// Meter counts usage; metering.Meter is one.
type Meter interface {
	Add(p hub.Principal, c metering.Counts)
}

// Server is the S3 front end: an http.Handler.
type Server struct {
	cfg Config
	ids atomic.Uint64 // request IDs
	// stagingMu serializes finding or making a staging bucket, so that
	// concurrent uploads of one caller make one.
	stagingMu sync.Mutex
}

// New returns the S3 front end.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxUploads == 0 {
		cfg.MaxUploads = DefaultMaxUploads
	}
	if cfg.MaxParts == 0 {
		cfg.MaxParts = DefaultMaxParts
	}
	if cfg.UploadTTL == 0 {
		cfg.UploadTTL = DefaultUploadTTL
	}
	return &Server{cfg: cfg}
}

// request is one S3 request being served.
type request struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	id     string
	bucket string // the S3 bucket name; "" for the service
	key    string // the object key; "" for a bucket
	sig    *signedRequest
	sigKey []byte // the day's signing key, for aws-chunked bodies
	p      hub.Principal
	db     hub.ThreadID // the caller's buckets DB, once lookup found it
}

func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &countingResponse{ResponseWriter: rw}
	q := &request{s: s, w: w, r: r, id: strconv.FormatUint(s.ids.Add(1), 16)}
	defer func() {
		if s.cfg.Meter != nil && q.p.Kind != hub.Anonymous && w.n > 0 {
			s.cfg.Meter.Add(q.p, metering.Counts{Egress: w.n})
		}
	}()
	w.Header().Set("x-amz-request-id", q.id)
	w.Header().Set("Server", "hubd")
	q.bucket, q.key = s.route(r)
	if err := q.authenticate(); err != nil {
		q.fail(err, errNoSuchBucket)
		return
	}
	if err := q.serve(); err != nil {
		nf := errNoSuchBucket
		if q.key != "" {
			nf = errNoSuchKey
		}
		q.fail(err, nf)
	}
}

// countingResponse counts the bytes of an answer's body.
type countingResponse struct {
	http.ResponseWriter
	n int64
}

func (c *countingResponse) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// Unwrap gives http.ResponseController the writer underneath.
func (c *countingResponse) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// route splits the request's target into bucket and key, path-style
// (/<bucket>/<key>) or virtual-hosted-style (<bucket>.<domain>/<key>).
func (s *Server) route(r *http.Request) (bucket, key string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	if s.cfg.Domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if b, ok := strings.CutSuffix(strings.ToLower(host), "."+strings.ToLower(s.cfg.Domain)); ok && b != "" {
			return b, p
		}
	}
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

// authenticate checks the request's signature and finds who it acts as.
func (q *request) authenticate() error {
	sr, err := parseSignature(q.r, q.s.cfg.Now())
	if err != nil {
		return err
	}
	q.sig = sr
	q.p, err = q.s.cfg.Auth.AuthenticateSigned(q.r.Context(), sr.accessKey, func(secret string) error {
		q.sigKey = sr.signingKey(secret)
		return sr.verify(q.r, secret)
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return err
		}
		if errors.Is(errors.Unauthenticated, err) {
			return &apiError{code: errInvalidAccessKeyID, msg: errors.Message(err)}
		}
		return err
	}
	return nil
}

// subresources are query parameters that select an S3 call other than
// the plain one on a bucket or object; those not served are refused with
// NotImplemented rather than mistaken for the plain call.
var subresources = []string{"acl", "accelerate", "analytics", "attributes", "cors", "encryption", "intelligent-tiering",
	"inventory", "legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock", "ownershipControls",
	"policy", "policyStatus", "publicAccessBlock", "replication", "requestPayment", "restore", "retention",
	"select", "tagging", "torrent", "versionId", "versioning", "versions", "website"}

// serve dispatches the authenticated request.
func (q *request) serve() error {
	qs := q.r.URL.Query()
	for _, sub := range subresources {
		if qs.Has(sub) {
			return apiErrorf(errNotImplemented, "%s %s?%s is not implemented by this hub yet", q.r.Method, q.target(), sub)
		}
	}
	m := q.r.Method
	switch {
	case q.key != "" && qs.Has("uploadId"):
		switch m {
		case http.MethodPut:
			return q.uploadPart()
		case http.MethodPost:
			return q.completeUpload()
		case http.MethodDelete:
			return q.abortUpload()
		case http.MethodGet:
			return q.listParts()
		}
	case q.key != "" && m == http.MethodPost && qs.Has("uploads"):
		return q.createUpload()
	case q.key == "" && m == http.MethodGet && qs.Has("uploads"):
		return q.listUploads()
	case qs.Has("uploads") || (qs.Has("partNumber") && m != http.MethodGet && m != http.MethodHead):
		return apiErrorf(errNotImplemented, "%s %s with partNumber or uploads is not implemented by this hub yet", m, q.target())
	case q.key != "" && m == http.MethodPut && q.r.Header.Get("X-Amz-Copy-Source") != "":
		return q.copyObject()
	}
	switch {
	case q.bucket == "" && m == http.MethodGet:
		return q.listBuckets()
	case q.bucket == "":
		return apiErrorf(errMethodNotAllowed, "%s is not allowed on the service", m)
	case q.key == "":
		switch {
		case m == http.MethodPut:
			return q.createBucket()
		case m == http.MethodDelete:
			return q.deleteBucket()
		case m == http.MethodHead:
			return q.headBucket()
		case m == http.MethodGet && qs.Has("location"):
			return q.bucketLocation()
		case m == http.MethodGet && qs.Get("list-type") == "2":
			return q.listObjects(true)
		case m == http.MethodGet:
			return q.listObjects(false)
		case m == http.MethodPost && qs.Has("delete"):
			return q.deleteObjects()
		}
	default:
		switch m {
		case http.MethodPut:
			return q.putObject()
		case http.MethodGet, http.MethodHead:
			return q.getObject(m == http.MethodHead)
		case http.MethodDelete:
			return q.deleteObject()
		}
	}
	return apiErrorf(errMethodNotAllowed, "%s is not allowed on %s", m, q.target())
}

// target names the request's bucket and key for messages.
func (q *request) target() string {
	if q.key == "" {
		return "/" + q.bucket
	}
	return "/" + q.bucket + "/" + q.key
}

// fail answers err as S3 XML; notFound is the code of a NotExist error.
func (q *request) fail(err error, notFound errorCode) {
	ae := toAPIError(err, notFound)
	if ae.code == errInternalError {
		q.s.cfg.Log.Error("s3 request", "method", q.r.Method, "target", q.target(), "err", err)
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Del("ETag")
	q.w.WriteHeader(ae.code.Status)
	if q.r.Method == http.MethodHead {
		return // HEAD answers carry no body; clients read the status
	}
	q.w.Write([]byte(xml.Header))
	xml.NewEncoder(q.w).Encode(errorBody{Code: ae.code.Code, Message: ae.msg, Resource: q.target(), RequestID: q.id})
}

// reply writes v as an S3 XML document. A client that goes away while it
// is written has nothing left to be told.
func (q *request) reply(v any) error {
	q.w.Header().Set("Content-Type", "application/xml")
	q.w.WriteHeader(http.StatusOK)
	q.w.Write([]byte(xml.Header))
	xml.NewEncoder(q.w).Encode(v)
	return nil
}
