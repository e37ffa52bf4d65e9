package buckets

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// GatewayBucket is what the HTTP gateway needs to serve a bucket.
type GatewayBucket struct {
	Thread  threads.ID // the DB that holds the bucket
	Account hub.PubKey // the account (app) the DB belongs to
	Root    cid.Cid    // the bucket's current root directory
	Private bool       // contents are encrypted; serve only with a token
	Updated int64      // Unix ns of the last change
}

// GatewayRoot returns the bucket with key in DB thread, or in whichever DB
// holds it when thread is empty (recorded when the bucket was made), for
// the HTTP gateway. It reads as the DB's owner and checks no access
// itself: public buckets are public, and private ones are opened with
// GatewayPrivate, which checks. NotExist when there is no such bucket.
func (s *Service) GatewayRoot(ctx context.Context, thread threads.ID, key string) (GatewayBucket, error) {
	const op errors.Op = "buckets.GatewayRoot"
	if err := CheckKey(key); err != nil {
		return GatewayBucket{}, errors.E(op, err)
	}
	if thread == "" {
		id, err := s.st.GetRaw(bucketDBKey(key))
		if errors.Is(errors.NotExist, err) {
			return GatewayBucket{}, errors.Errorf(op, errors.NotExist, "no bucket with key %s on this hub", errors.Clip(key))
		}
		if err != nil {
			return GatewayBucket{}, errors.E(op, errors.Internal, err)
		}
		thread = threads.ID(id)
	}
	return s.gatewayRoot(ctx, op, thread, key)
}

func (s *Service) gatewayRoot(ctx context.Context, op errors.Op, thread threads.ID, key string) (GatewayBucket, error) {
	owner, err := s.dbs.Owner(ctx, thread)
	if err != nil {
		return GatewayBucket{}, errors.E(op, notFound(key, err))
	}
	txn, err := s.ownerTxn(ctx, thread)
	if err != nil {
		return GatewayBucket{}, errors.E(op, notFound(key, err))
	}
	defer txn.Discard()
	b, err := s.decodeBucket(op, txn, key, thread)
	if err != nil {
		return GatewayBucket{}, err
	}
	root, err := b.Root()
	if err != nil {
		return GatewayBucket{}, errors.E(op, errors.Internal, err)
	}
	return GatewayBucket{Thread: thread, Account: owner.Account, Root: root, Private: b.IsPrivate(), Updated: b.UpdatedAt}, nil
}
