package gateway

import (
	"context"
	"net/http"
	"time"

	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/path"
	ci "github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/errors"
)

// names is the name system boxo sees: /ipns/<bucket key> resolves to the
// bucket's current root, locally. It publishes nothing.
type names struct{ bkts Buckets }

var _ namesys.NameSystem = names{}

// bucketCtxKey carries the bucket the handler resolved (and checked) to
// the name system, so one request resolves its bucket once and serves the
// root it checked.
type bucketCtxKey struct{}

type pinned struct {
	key string
	b   buckets.GatewayBucket
}

func withBucket(ctx context.Context, key string, b buckets.GatewayBucket) context.Context {
	return context.WithValue(ctx, bucketCtxKey{}, pinned{key, b})
}

// Resolve resolves /ipns/<key>[/rest] to /ipfs/<root>[/rest].
func (n names) Resolve(ctx context.Context, p path.Path, _ ...namesys.ResolveOption) (namesys.Result, error) {
	segs := p.Segments() // "ipns", key, rest...
	if len(segs) < 2 || p.Namespace() != path.IPNSNamespace {
		return namesys.Result{}, boxogw.NewErrorStatusCode(errors.Errorf("gateway.Resolve", errors.Invalid, "%s is not an /ipns/ path", p), http.StatusBadRequest)
	}
	key := segs[1]
	pin, ok := ctx.Value(bucketCtxKey{}).(pinned)
	b := pin.b
	if !ok || pin.key != key {
		var err error
		if b, err = n.bkts.GatewayRoot(ctx, "", key); err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(errors.NotExist, err):
				code = http.StatusNotFound
			case errors.Is(errors.Invalid, err):
				code = http.StatusBadRequest
			}
			return namesys.Result{}, boxogw.NewErrorStatusCode(err, code)
		}
		if b.Private {
			return namesys.Result{}, boxogw.NewErrorStatusCode(errors.Errorf("gateway.Resolve", errors.Permission, "bucket %s is private; the gateway does not serve private buckets yet", key), http.StatusForbidden)
		}
	}
	out, err := path.Join(path.FromCid(b.Root), segs[2:]...)
	if err != nil {
		return namesys.Result{}, boxogw.NewErrorStatusCode(err, http.StatusBadRequest)
	}
	// TTL 0: bucket roots change at any time, so no freshness is promised.
	return namesys.Result{Path: out, LastMod: time.Unix(0, b.Updated)}, nil
}

// ResolveAsync is Resolve with one result.
func (n names) ResolveAsync(ctx context.Context, p path.Path, opts ...namesys.ResolveOption) <-chan namesys.AsyncResult {
	out := make(chan namesys.AsyncResult, 1)
	res, err := n.Resolve(ctx, p, opts...)
	out <- namesys.AsyncResult{Path: res.Path, TTL: res.TTL, LastMod: res.LastMod, Err: err}
	close(out)
	return out
}

// Publish is not supported: bucket roots change through the bucket API.
func (names) Publish(context.Context, ci.PrivKey, path.Path, ...namesys.PublishOption) error {
	return errors.E("gateway.Publish", errors.Unimplemented, "the gateway publishes no names; change a bucket through the bucket API")
}
