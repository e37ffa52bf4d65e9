package gateway

import (
	"context"
	"net/http"
	"time"

	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/namesys"
	"github.com/ipfs/boxo/path"
	ci "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/errors"
)

// Records is what the gateway needs from the hub's IPNS record store.
type Records interface {
	// Get returns name's record, checked against the name and still
	// valid, with its marshalled form; NotExist when the hub has none.
	Get(ctx context.Context, name ipns.Name) (*ipns.Record, []byte, error)
}

// names is the name system boxo sees: /ipns/<bucket key> resolves to the
// value of the bucket key's signed IPNS record, or to the bucket's root
// when the hub keeps no records. It publishes nothing.
type names struct {
	bkts    Buckets
	records Records // nil: resolve through the bucket alone
}

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
	const op errors.Op = "gateway.Resolve"
	segs := p.Segments() // "ipns", key, rest...
	if len(segs) < 2 || p.Namespace() != path.IPNSNamespace {
		return namesys.Result{}, boxogw.NewErrorStatusCode(errors.Errorf(op, errors.Invalid, "%s is not an /ipns/ path", p), http.StatusBadRequest)
	}
	key := segs[1]
	pin, ok := ctx.Value(bucketCtxKey{}).(pinned)
	b := pin.b
	if !ok || pin.key != key {
		var err error
		if b, err = n.bkts.GatewayRoot(ctx, "", key); err != nil {
			return namesys.Result{}, boxogw.NewErrorStatusCode(err, statusOf(err))
		}
		if b.Private {
			return namesys.Result{}, boxogw.NewErrorStatusCode(errors.Errorf(op, errors.Permission, "bucket %s is private; read it at /ipns/%s or /thread/<db>/buckets/%s with one of its links (from Links)", key, key, key), http.StatusForbidden)
		}
	}
	target := path.FromCid(b.Root)
	// TTL 0 without a record: bucket roots change at any time.
	var ttl time.Duration
	if rec := n.record(ctx, key); rec != nil {
		// The record is signed under the bucket's lock right after each
		// change, so it names the bucket's root; after a crash between
		// the two it may lag until it is signed again, and the bucket's
		// own root, the truth, wins.
		if v, err := rec.Value(); err == nil && v.String() == target.String() {
			ttl, _ = rec.TTL()
		}
	}
	out, err := path.Join(target, segs[2:]...)
	if err != nil {
		return namesys.Result{}, boxogw.NewErrorStatusCode(err, http.StatusBadRequest)
	}
	return namesys.Result{Path: out, TTL: ttl, LastMod: time.Unix(0, b.Updated)}, nil
}

// record returns key's verified record, or nil when there is none.
func (n names) record(ctx context.Context, key string) *ipns.Record {
	if n.records == nil {
		return nil
	}
	name, err := ipns.NameFromString(key)
	if err != nil {
		return nil
	}
	rec, _, err := n.records.Get(ctx, name)
	if err != nil {
		return nil
	}
	return rec
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
	const op errors.Op = "gateway.Publish"
	return errors.E(op, errors.Unimplemented, "the gateway publishes no names; change a bucket through the bucket API")
}

// recordStore is the value store boxo reads IPNS records from for
// ?format=ipns-record: the hub's own records, offline. The handler has
// already checked that the bucket exists and may be served.
type recordStore struct{ records Records }

var _ routing.ValueStore = recordStore{}

// GetValue returns the marshalled record under an /ipns/ routing key.
func (s recordStore) GetValue(ctx context.Context, key string, _ ...routing.Option) ([]byte, error) {
	name, err := ipns.NameFromRoutingKey([]byte(key))
	if err != nil {
		return nil, boxogw.NewErrorStatusCode(err, http.StatusBadRequest)
	}
	_, raw, err := s.records.Get(ctx, name)
	if err != nil {
		return nil, boxogw.NewErrorStatusCode(err, statusOf(err))
	}
	return raw, nil
}

// SearchValue is GetValue with one result.
func (s recordStore) SearchValue(ctx context.Context, key string, opts ...routing.Option) (<-chan []byte, error) {
	v, err := s.GetValue(ctx, key, opts...)
	if err != nil {
		return nil, err
	}
	out := make(chan []byte, 1)
	out <- v
	close(out)
	return out, nil
}

// PutValue is not supported: the hub signs its records itself.
func (recordStore) PutValue(context.Context, string, []byte, ...routing.Option) error {
	const op errors.Op = "gateway.PutValue"
	return errors.E(op, errors.Unimplemented, "the gateway accepts no IPNS records; change a bucket through the bucket API")
}

// statusOf is the HTTP status for an error from the bucket service or the
// record store.
func statusOf(err error) int {
	switch {
	case errors.Is(errors.NotExist, err):
		return http.StatusNotFound
	case errors.Is(errors.Invalid, err):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}
