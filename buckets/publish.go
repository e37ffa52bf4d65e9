package buckets

import (
	"context"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub/errors"
)

// Publisher keeps each bucket key's IPNS name pointing at the bucket's
// root. The service calls it on every change of a root, under the bucket's
// lock and after the change is durable, so the names' records follow the
// roots in order.
type Publisher interface {
	// Publish signs and stores a record naming root for sk's name; it
	// returns once the record is durable.
	Publish(ctx context.Context, sk crypto.PrivKey, root cid.Cid) error
	// Unpublish forgets the record of the bucket key: the bucket is gone.
	Unpublish(ctx context.Context, key string) error
}

// published tells the publisher, if there is one, that bucket b's root is
// now b's path. b's change is already saved, so a failure says so.
func (s *Service) published(ctx context.Context, op errors.Op, b Bucket) error {
	if s.cfg.Publisher == nil {
		return nil
	}
	sk, err := s.ipnsKey(b.Key)
	if err != nil {
		return errors.E(op, err)
	}
	if err := s.cfg.Publisher.Publish(ctx, sk, mustRoot(b)); err != nil {
		return errors.Errorf(op, errors.Internal, "bucket %s is saved at %s, but its IPNS record could not be signed (%v); it is signed again at the bucket's next change or before the old record expires", b.Key, b.Path, err)
	}
	return nil
}

// unpublished tells the publisher, if there is one, that the bucket key
// was removed.
func (s *Service) unpublished(ctx context.Context, op errors.Op, key string) error {
	if s.cfg.Publisher == nil {
		return nil
	}
	if err := s.cfg.Publisher.Unpublish(ctx, key); err != nil {
		return errors.Errorf(op, errors.Internal, "bucket %s is removed, but its IPNS record could not be deleted (%v); the gateway no longer serves it, and it is deleted before it expires", key, err)
	}
	return nil
}

// ipnsKey returns the private key behind the bucket key's IPNS name.
func (s *Service) ipnsKey(key string) (crypto.PrivKey, error) {
	raw, err := s.st.GetRaw(ipnsKeyKey(key))
	if err != nil {
		return nil, err
	}
	sk, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	return sk, nil
}

// Republish signs the bucket key's record again with the bucket's current
// root, under the bucket's lock so it cannot overtake a change in flight;
// NotExist when the bucket is gone.
func (s *Service) Republish(ctx context.Context, key string) error {
	const op errors.Op = "buckets.Republish"
	b, err := s.GatewayRoot(ctx, "", key)
	if err != nil {
		return errors.E(op, err)
	}
	unlock := s.lock(b.Thread, key)
	defer unlock()
	if b, err = s.GatewayRoot(ctx, b.Thread, key); err != nil {
		return errors.E(op, err)
	}
	return s.published(ctx, op, Bucket{Key: key, Path: "/ipfs/" + b.Root.String()})
}
