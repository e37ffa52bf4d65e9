package ipfsnet

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// Default record lifetimes.
const (
	// DefaultValidity is how long a record is valid after it is signed.
	// Records are signed again before half of it has passed (see
	// Node.republish), so it only bounds how long a record outlives a hub
	// that stopped.
	DefaultValidity = 48 * time.Hour
	// DefaultTTL is how long resolvers may cache a record. Bucket roots
	// change at any time, so it is short.
	DefaultTTL = time.Minute
	// MinValidity is the shortest validity Records accepts: records are
	// re-signed on a schedule derived from it.
	MinValidity = time.Minute
)

// Records is the hub's durable store of the IPNS records it signs, one per
// name, under the store key prefix "ipns". It is safe for concurrent use.
//
// Each record's sequence number is one more than the stored record's, so
// sequence numbers keep increasing across restarts; removing a name (its
// bucket was removed) forgets it for good, as its key is gone too.
type Records struct {
	st       *store.Store
	validity time.Duration
	ttl      time.Duration
	now      func() time.Time

	// mu serializes the read-sign-write of records so two publishes never
	// sign the same sequence number. Waiting for the write to be durable
	// happens outside it.
	mu sync.Mutex
}

// NewRecords returns the record store in st, signing records valid for
// validity with the given TTL (0 for the defaults).
func NewRecords(st *store.Store, validity, ttl time.Duration) (*Records, error) {
	const op errors.Op = "ipfsnet.NewRecords"
	if validity == 0 {
		validity = DefaultValidity
	}
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if validity < MinValidity {
		return nil, errors.Errorf(op, errors.Invalid, "IPNS record validity %s is too short; use at least %s", validity, MinValidity)
	}
	if ttl < 0 {
		return nil, errors.Errorf(op, errors.Invalid, "IPNS record TTL %s is negative; use 0 for the default or a positive duration", ttl)
	}
	return &Records{st: st, validity: validity, ttl: ttl, now: time.Now}, nil
}

// recordKey is where the record for name is stored.
func recordKey(name ipns.Name) []byte { return store.Key(store.IPNSRecords, name.String()) }

// NameOf returns the IPNS name of sk's public key.
func NameOf(sk crypto.PrivKey) (ipns.Name, error) {
	const op errors.Op = "ipfsnet.NameOf"
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return ipns.Name{}, errors.E(op, errors.Invalid, err)
	}
	return ipns.NameFromPeer(id), nil
}

// Sign signs a record naming /ipfs/<root> for sk's name with the next
// sequence number and stores it: Get returns it as soon as Sign returns.
// The store syncs it to disk in the background; durable waits until it is
// on disk and must be called. Records carry both V1 and V2 signatures, so
// older resolvers accept them too.
func (rs *Records) Sign(ctx context.Context, sk crypto.PrivKey, root cid.Cid) (durable func() error, err error) {
	const op errors.Op = "ipfsnet.Records.Sign"
	name, err := NameOf(sk)
	if err != nil {
		return nil, errors.E(op, err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var seq uint64
	if prev, err := rs.record(name); err == nil {
		if s, err := prev.Sequence(); err == nil {
			seq = s + 1
		}
	} else if !errors.Is(errors.NotExist, err) {
		return nil, errors.E(op, err)
	}
	rec, err := ipns.NewRecord(sk, path.FromCid(root), seq, rs.now().Add(rs.validity), rs.ttl, ipns.WithV1Compatibility(true))
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	raw, err := ipns.MarshalRecord(rec)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	b := rs.st.NewBatch()
	b.PutRaw(recordKey(name), raw)
	if durable, err = b.Apply(); err != nil {
		return nil, errors.E(op, err)
	}
	return durable, nil
}

// Delete forgets name's record.
func (rs *Records) Delete(ctx context.Context, name ipns.Name) error {
	const op errors.Op = "ipfsnet.Records.Delete"
	b := rs.st.NewBatch()
	b.Delete(recordKey(name))
	if err := b.Commit(); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// Get returns name's record, marshalled, after checking its signatures
// against the name and its validity; NotExist when the hub has none.
func (rs *Records) Get(ctx context.Context, name ipns.Name) (*ipns.Record, []byte, error) {
	const op errors.Op = "ipfsnet.Records.Get"
	raw, err := rs.st.GetRaw(recordKey(name))
	if err != nil {
		return nil, nil, notFound(op, name, err)
	}
	rec, err := ipns.UnmarshalRecord(raw)
	if err != nil {
		return nil, nil, errors.E(op, errors.Internal, err)
	}
	if err := ipns.ValidateWithName(rec, name); err != nil {
		// An expired record: the hub was stopped for longer than the
		// validity, and the republisher has not signed it again yet.
		return nil, nil, errors.Errorf(op, errors.NotExist, "the IPNS record of %s is not valid (%v); it is signed again shortly, retry in a minute", name, err)
	}
	return rec, raw, nil
}

// record returns the stored record of name without validating it.
func (rs *Records) record(name ipns.Name) (*ipns.Record, error) {
	const op errors.Op = "ipfsnet.Records.record"
	raw, err := rs.st.GetRaw(recordKey(name))
	if err != nil {
		return nil, notFound(op, name, err)
	}
	rec, err := ipns.UnmarshalRecord(raw)
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	return rec, nil
}

// each calls fn with every stored record's name and record.
func (rs *Records) each(fn func(ipns.Name, *ipns.Record) error) error {
	return rs.st.Scan(store.Key(store.IPNSRecords, ""), func(key, val []byte) error {
		name, err := ipns.NameFromString(string(key[len(store.IPNSRecords)+1:]))
		if err != nil {
			return nil // not ours to judge; nothing else writes here
		}
		rec, err := ipns.UnmarshalRecord(val)
		if err != nil {
			return nil
		}
		return fn(name, rec)
	})
}

// notFound gives a missing record a message that says what to do.
func notFound(op errors.Op, name ipns.Name, err error) error {
	if errors.Is(errors.NotExist, err) {
		return errors.Errorf(op, errors.NotExist, "no IPNS record for %s on this hub; a bucket's record exists while the bucket does", name)
	}
	return errors.E(op, err)
}
