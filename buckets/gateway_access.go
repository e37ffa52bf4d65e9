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
// holds it when thread is empty, for the HTTP gateway and the IPNS
// re-signing. It reads the hub's record (record.go) only, so no tenant's
// code runs in it, and checks no access itself: public buckets are
// public, and private ones are opened with GatewayPrivate, which checks.
// NotExist when there is no such bucket.
func (s *Service) GatewayRoot(ctx context.Context, thread threads.ID, key string) (GatewayBucket, error) {
	const op errors.Op = "buckets.GatewayRoot"
	if err := CheckKey(key); err != nil {
		return GatewayBucket{}, errors.E(op, err)
	}
	r, err := s.recordOf(key)
	if err == nil && thread != "" && r.Thread != thread.String() {
		err = errors.E(errors.NotExist)
	}
	if errors.Is(errors.NotExist, err) {
		return GatewayBucket{}, errors.Errorf(op, errors.NotExist, "no bucket with key %s on this hub", errors.Clip(key))
	}
	if err != nil {
		return GatewayBucket{}, errors.E(op, errors.Internal, err)
	}
	root, err := cid.Decode(r.Root)
	if err != nil {
		return GatewayBucket{}, errors.E(op, errors.Internal, err)
	}
	home, err := threads.Decode(r.Thread)
	if err != nil {
		return GatewayBucket{}, errors.E(op, errors.Internal, err)
	}
	return GatewayBucket{Thread: home, Account: r.Account, Root: root, Private: r.Private, Updated: r.Updated}, nil
}
