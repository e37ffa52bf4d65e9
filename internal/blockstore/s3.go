package blockstore

import (
	"bytes"
	"context"
	stderrors "errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	bstore "github.com/ipfs/boxo/blockstore"
	dshelp "github.com/ipfs/boxo/datastore/dshelp"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	mh "github.com/multiformats/go-multihash"

	"github.com/selfhub/hub/errors"
)

// S3 is a go-datastore of blocks in an S3-compatible object store: one
// object per value, named by its key under a prefix, so a block is the
// object PREFIX/blocks/<base32 multihash>.
//
// The client is aws-sdk-go-v2: it reads credentials the standard AWS way
// (environment, shared config and credentials files, SSO, instance roles),
// it retries throttling and 5xx answers with jittered exponential backoff
// out of the box, and the test S3 server (versitygw) brings it into the
// module graph anyway, so it adds no module. minio-go would do the rest as
// well but reads fewer of the standard credential sources.
//
// Durability: Put returns once the store has acknowledged the object, so
// Sync has nothing left to do; a bucket's root, written after Flush, never
// points at a block the store has not acknowledged. An object store never
// shows a partly written object, and Get checks every value against the
// multihash its key names anyway (a store bug, a tampered or truncated
// object): a value that does not match is a DataLoss error, never a block.
//
// A batch starts each upload as it is put, at most uploads at a time for
// the whole store, and its Commit waits for them: an import's batches
// upload in parallel with bounded concurrency and memory (the batch's
// blocks, which the caller holds anyway).
//
// Keys must have the shape /<namespace>/<name> where the name is a
// multihash in base32 (what boxo's blockstore writes).
type S3 struct {
	cfg    S3Config
	client *s3.Client
	prefix string        // object key prefix: "" or ending in '/'
	slots  chan struct{} // one token per upload or delete in flight
	rec    *records      // the hub's record of the objects; nil: none kept (KeepRecords)
	cache  *Cache        // copies of the blocks read; nil: none (UseCache)
}

var _ ds.Batching = (*S3)(nil)

// S3Config says where blocks live and how hubd talks to the store.
type S3Config struct {
	Bucket    string
	Prefix    string // under which the objects are named; may be empty
	Endpoint  string // base URL of an S3-compatible store; empty: AWS
	Region    string // empty: the AWS environment's, else us-east-1
	PathStyle bool   // bucket in the URL path, not the host name (most self-hosted stores)

	// Uploads is how many uploads (and deletes) run at once.
	Uploads int
	// Attempts is how many times a request is tried; throttling, 5xx
	// answers, timeouts and broken connections are retried with
	// exponential backoff up to MaxBackoff between attempts.
	Attempts   int
	MaxBackoff time.Duration
	// Timeout bounds one attempt of one request, reading its answer
	// included, so a stalled store costs a retry, not a hung push.
	Timeout time.Duration
}

// Defaults of S3Config.
const (
	DefaultS3Uploads    = 16
	DefaultS3Attempts   = 5
	DefaultS3MaxBackoff = 5 * time.Second
	DefaultS3Timeout    = time.Minute
)

// maxObjectSize bounds what Get reads of one object: blocks are at most
// 2 MiB (the most bitswap moves); anything bigger is not a block of ours.
const maxObjectSize = 4 << 20

// ParseS3URL reads s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=true]
// into a configuration with the default limits.
func ParseS3URL(s string) (S3Config, error) {
	const op errors.Op = "blockstore.ParseS3URL"
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return S3Config{}, errors.Errorf(op, errors.Invalid, "%q is not s3://BUCKET/PREFIX?endpoint=URL&region=REGION&path-style=true", s)
	}
	c := S3Config{
		Bucket:     u.Host,
		Prefix:     strings.Trim(u.Path, "/"),
		Uploads:    DefaultS3Uploads,
		Attempts:   DefaultS3Attempts,
		MaxBackoff: DefaultS3MaxBackoff,
		Timeout:    DefaultS3Timeout,
	}
	for k, v := range u.Query() {
		if len(v) != 1 {
			return S3Config{}, errors.Errorf(op, errors.Invalid, "%s: %s is given %d times", s, k, len(v))
		}
		switch k {
		case "endpoint":
			e, err := url.Parse(v[0])
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return S3Config{}, errors.Errorf(op, errors.Invalid, "%s: endpoint %q is not an http:// or https:// URL", s, v[0])
			}
			c.Endpoint = v[0]
		case "region":
			c.Region = v[0]
		case "path-style":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return S3Config{}, errors.Errorf(op, errors.Invalid, "%s: path-style %q is not true or false", s, v[0])
			}
			c.PathStyle = b
		default:
			return S3Config{}, errors.Errorf(op, errors.Invalid, "%s: unknown parameter %q (known: endpoint, region, path-style)", s, k)
		}
	}
	return c, nil
}

// String is the configuration as an s3:// URL, for messages.
func (c S3Config) String() string { return "s3://" + c.Bucket + "/" + c.Prefix }

// OpenS3 connects to the bucket c names, with credentials from the
// standard AWS sources, and checks that it can reach it, so a wrong
// bucket, endpoint or key is found at start-up, not at the first push.
func OpenS3(ctx context.Context, c S3Config) (*S3, error) {
	const op errors.Op = "blockstore.OpenS3"
	if c.Uploads < 1 || c.Attempts < 1 || c.Timeout <= 0 || c.MaxBackoff <= 0 {
		return nil, errors.Errorf(op, errors.Invalid, "uploads, attempts, timeout and max backoff must be positive")
	}
	httpClient := awshttp.NewBuildableClient().WithTimeout(c.Timeout).WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 2 * c.Uploads
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = c.Attempts
				o.MaxBackoff = c.MaxBackoff
				// The attempts bound retries; the SDK's client-side retry
				// quota would otherwise fail every request of a busy hub
				// fast after a burst of throttling.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, errors.E(op, errors.Invalid, fmt.Errorf("%s: AWS configuration: %w", c, err))
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1" // what most self-hosted stores expect
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
		// Every read is checked against its multihash, which is stronger
		// than the store's checksum; only send checksums stores require.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.Bucket)}); err != nil {
		return nil, errors.E(op, errors.FailedPrecondition, fmt.Errorf("cannot reach bucket %s: %w (check the bucket, endpoint, region and the AWS credentials in the environment)", c, err))
	}
	s := &S3{cfg: c, client: client, slots: make(chan struct{}, c.Uploads)}
	if c.Prefix != "" {
		s.prefix = c.Prefix + "/"
	}
	return s, nil
}

// UseCache makes s keep copies of the blocks it reads in c, and read them
// from there (see Cache). Call it before s is used.
func (s *S3) UseCache(c *Cache) { s.cache = c }

// Blockstore returns a boxo blockstore over s. It writes through: it does
// not ask the store whether each block exists before putting it, as one
// round trip per block before its upload costs more than uploading again
// the blocks of a push that are already stored (keys name contents, so a
// rewrite puts the same bytes).
func (s *S3) Blockstore() Blockstore {
	return Blockstore{bstore.NewBlockstore(s, bstore.WriteThrough(true)), s}
}

// splitKey returns the namespace and name of a key of the shape
// /<namespace>/<name>, whose parts are letters, digits, '-', '_' and '='.
func splitKey(op errors.Op, k ds.Key) (string, string, error) {
	parts := k.List()
	if len(parts) != 2 || !validName(parts[0]) || !validName(parts[1]) {
		return "", "", errors.Errorf(op, errors.Invalid, "key %q is not /<namespace>/<name>", k)
	}
	return parts[0], parts[1], nil
}

// object returns the object key of k.
func (s *S3) object(op errors.Op, k ds.Key) (string, error) {
	ns, name, err := splitKey(op, k)
	if err != nil {
		return "", err
	}
	return s.prefix + ns + "/" + name, nil
}

// Get returns the value at k, or ds.ErrNotFound, checked against the
// multihash k names.
func (s *S3) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	const op errors.Op = "blockstore.S3.Get"
	obj, err := s.object(op, k)
	if err != nil {
		return nil, ds.ErrNotFound // such a key cannot exist
	}
	if s.cache != nil {
		if v, ok := s.cache.Get(k); ok {
			return v, nil
		}
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.cfg.Bucket, Key: &obj})
	if err != nil {
		return nil, s.fail(ctx, op, obj, err)
	}
	defer out.Body.Close()
	n := aws.ToInt64(out.ContentLength)
	if n > maxObjectSize {
		return nil, errors.Errorf(op, errors.DataLoss, "object %s in %s is %d bytes, more than any block", obj, s.cfg, n)
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(n, 0)))
	if _, err := io.Copy(buf, io.LimitReader(out.Body, maxObjectSize+1)); err != nil {
		return nil, errors.E(op, errors.Unavailable, fmt.Errorf("read %s from %s: %w", obj, s.cfg, err))
	}
	v := buf.Bytes()
	if err := verify(k, v); err != nil {
		return nil, errors.E(op, errors.DataLoss, fmt.Errorf("object %s in %s: %w; the block is damaged in the store", obj, s.cfg, err))
	}
	if s.cache != nil {
		s.cache.Add(k, v)
	}
	return v, nil
}

// verify checks that v hashes to the multihash k's name encodes.
func verify(k ds.Key, v []byte) error {
	want, err := dshelp.BinaryFromDsKey(ds.NewKey(k.BaseNamespace()))
	if err != nil {
		return fmt.Errorf("its name is not a multihash: %w", err)
	}
	dec, err := mh.Decode(want)
	if err != nil {
		return fmt.Errorf("its name is not a multihash: %w", err)
	}
	got, err := mh.Sum(v, dec.Code, dec.Length)
	if err != nil {
		return fmt.Errorf("cannot hash it: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("its %d bytes do not hash to its name", len(v))
	}
	return nil
}

// Has reports whether k exists.
func (s *S3) Has(ctx context.Context, k ds.Key) (bool, error) {
	_, err := s.GetSize(ctx, k)
	if err == ds.ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

// GetSize returns the size of the value at k, or ds.ErrNotFound.
func (s *S3) GetSize(ctx context.Context, k ds.Key) (int, error) {
	const op errors.Op = "blockstore.S3.GetSize"
	obj, err := s.object(op, k)
	if err != nil {
		return -1, ds.ErrNotFound
	}
	if s.cache != nil {
		if n, ok := s.cache.Size(k); ok {
			return n, nil
		}
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.cfg.Bucket, Key: &obj})
	if err != nil {
		return -1, s.fail(ctx, op, obj, err)
	}
	return int(aws.ToInt64(out.ContentLength)), nil
}

// Put stores v at k and returns once the store has acknowledged it.
func (s *S3) Put(ctx context.Context, k ds.Key, v []byte) error {
	put, err := s.put(k, v)
	if err != nil {
		return err
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	return put(ctx)
}

// put returns the upload of v to k's object.
func (s *S3) put(k ds.Key, v []byte) (func(context.Context) error, error) {
	const op errors.Op = "blockstore.S3.Put"
	obj, err := s.object(op, k)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		if s.rec != nil {
			if err := s.rec.add(k, len(v)); err != nil {
				return err
			}
		}
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: &s.cfg.Bucket, Key: &obj, Body: bytes.NewReader(v), ContentLength: aws.Int64(int64(len(v))),
		})
		return s.fail(ctx, op, obj, err)
	}, nil
}

// Delete removes k; a missing k is not an error.
func (s *S3) Delete(ctx context.Context, k ds.Key) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	return s.del(k)(ctx)
}

// del returns the deletion of k's object.
func (s *S3) del(k ds.Key) func(context.Context) error {
	const op errors.Op = "blockstore.S3.Delete"
	obj, err := s.object(op, k)
	if err != nil {
		return func(context.Context) error { return nil } // such a key cannot exist
	}
	return func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.cfg.Bucket, Key: &obj})
		if err = s.fail(ctx, op, obj, err); err != nil && err != ds.ErrNotFound {
			return err
		}
		if s.cache != nil {
			s.cache.Remove(k)
		}
		if s.rec != nil {
			return s.rec.remove([]ds.Key{k})
		}
		return nil
	}
}

func (s *S3) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *S3) release() { <-s.slots }

// fail turns a client error about obj into ds.ErrNotFound (404), ctx's
// error if ctx ended, or an error that names the store; nil stays nil.
func (s *S3) fail(ctx context.Context, op errors.Op, obj string, err error) error {
	if err == nil {
		return nil
	}
	var re interface{ HTTPStatusCode() int }
	if stderrors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return ds.ErrNotFound
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.E(op, errors.Unavailable, fmt.Errorf("object %s in %s: %w", obj, s.cfg, err))
}

// Sync has nothing to do: every Put returned after the store acknowledged
// it.
func (s *S3) Sync(context.Context, ds.Key) error { return nil }

// Close is a no-op: requests in flight end with their contexts.
func (s *S3) Close() error { return nil }

// Query lists the entries under q.Prefix, a page of objects at a time,
// reading values unless q.KeysOnly; filters, orders, offsets and limits
// are applied naively on top.
func (s *S3) Query(ctx context.Context, q query.Query) (query.Results, error) {
	const op errors.Op = "blockstore.S3.Query"
	pfx := ds.NewKey(q.Prefix).String()
	if pfx != "/" {
		pfx += "/"
	}
	listed := s.prefix + strings.TrimPrefix(pfx, "/")
	base := q
	base.Prefix, base.Filters, base.Orders, base.Offset, base.Limit = "", nil, nil, 0, 0
	res := query.ResultsWithContext(base, func(ctx context.Context, out chan<- query.Result) {
		pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.cfg.Bucket, Prefix: &listed})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				if ctx.Err() == nil {
					send(ctx, out, query.Result{Error: errors.E(op, errors.Unavailable, fmt.Errorf("list %s: %w", s.cfg, err))})
				}
				return
			}
			for _, o := range page.Contents {
				e := query.Entry{Key: "/" + strings.TrimPrefix(aws.ToString(o.Key), s.prefix), Size: int(aws.ToInt64(o.Size))}
				if !q.KeysOnly {
					v, err := s.Get(ctx, ds.NewKey(e.Key))
					if err == ds.ErrNotFound {
						continue // deleted since the listing
					} else if err != nil {
						send(ctx, out, query.Result{Error: err})
						return
					}
					e.Value = v
				}
				if send(ctx, out, query.Result{Entry: e}) != nil {
					return
				}
			}
		}
	})
	q.Prefix = ""
	return query.NaiveQueryApply(q, res), nil
}

// Batch starts a batch whose puts and deletes start at once, in
// parallel, and whose Commit waits for all of them and returns the first
// error. A batch is not atomic: after a failed Commit some of its values
// may be stored (they are garbage until a root links them).
func (s *S3) Batch(context.Context) (ds.Batch, error) { return &s3Batch{s: s}, nil }

type s3Batch struct {
	s  *S3
	wg sync.WaitGroup
	// mu guards err.
	mu  sync.Mutex
	err error // the first failure
}

// run waits for a slot, then runs fn in the background.
func (b *s3Batch) run(ctx context.Context, fn func(context.Context) error) error {
	if err := b.s.acquire(ctx); err != nil {
		return err
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer b.s.release()
		if err := fn(ctx); err != nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = err
			}
			b.mu.Unlock()
		}
	}()
	return nil
}

func (b *s3Batch) Put(ctx context.Context, k ds.Key, v []byte) error {
	put, err := b.s.put(k, v)
	if err != nil {
		return err
	}
	return b.run(ctx, put)
}

func (b *s3Batch) Delete(ctx context.Context, k ds.Key) error { return b.run(ctx, b.s.del(k)) }

func (b *s3Batch) Commit(context.Context) error {
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
