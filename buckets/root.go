package buckets

import (
	"context"
	"encoding/json"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// checkRoot refuses a change based on a root other than the bucket's
// current one; an empty root means the caller forces the change.
func checkRoot(op errors.Op, b Bucket, root string) error {
	if root == "" {
		return nil
	}
	want, err := parseRoot(root)
	if err != nil {
		return errors.E(op, err)
	}
	cur, err := b.Root()
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if !want.Equals(cur) {
		return errors.Errorf(op, errors.FailedPrecondition,
			"bucket %s is at root %s, not %s: pull the current state first (non-fast-forward changes are refused unless forced)", b.Key, b.Path, root)
	}
	return nil
}

// update is updateKeyed for a change that knows nothing of encryption: it
// refuses private buckets, whose contents such a change would corrupt.
func (s *Service) update(ctx context.Context, op errors.Op, p hub.Principal, thread threads.ID, key, root string,
	need Role, paths [][]string, change func(cur ipld.Node) (ipld.Node, error)) (Bucket, error) {
	return s.updateKeyed(ctx, op, p, thread, key, root, need, paths, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		if b.IsPrivate() {
			return nil, errors.Errorf(op, errors.Unimplemented, "%s is not offered for private buckets, whose contents the hub encrypts; push the files with PushPath or PushPaths", op)
		}
		return change(cur)
	})
}

// updateKeyed applies change to the bucket's current root under the
// bucket's lock, checking root (see checkRoot) against the stored state,
// and writes the new root. change gets the bucket as read under the lock,
// whose keys are current. All blocks change stores are synced before the
// instance is written.
func (s *Service) updateKeyed(ctx context.Context, op errors.Op, p hub.Principal, thread threads.ID, key, root string,
	need Role, paths [][]string, change func(b Bucket, cur ipld.Node) (ipld.Node, error)) (Bucket, error) {
	r, err := s.reachDB(ctx, p, thread)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := CheckKey(key); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	unlock := s.lock(thread, key)
	defer unlock()
	b, err := s.getBucket(ctx, op, r, thread, key)
	if err != nil {
		return Bucket{}, err
	}
	for _, segs := range paths {
		if err := r.authorize(op, b, segs, need); err != nil {
			return Bucket{}, err
		}
	}
	if err := checkRoot(op, b, root); err != nil {
		return Bucket{}, err
	}
	cur, err := b.Root()
	if err != nil {
		return Bucket{}, errors.E(op, errors.Internal, err)
	}
	curNode, err := s.dag.Get(ctx, cur)
	if err != nil {
		return Bucket{}, errors.E(op, errors.Internal, err)
	}
	next, err := change(b, curNode)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := s.flush(ctx, op); err != nil {
		return Bucket{}, err
	}
	txn, err := r.d.WriteTxn(ctx, r.as, Collection)
	if err != nil {
		return Bucket{}, errors.E(op, notFound(key, err))
	}
	defer txn.Discard()
	// The instance may have changed through the threads API since Get.
	if b, err = s.decodeBucket(op, txn, key, thread); err != nil {
		return Bucket{}, err
	}
	if !mustRoot(b).Equals(cur) {
		return Bucket{}, errors.Errorf(op, errors.FailedPrecondition, "bucket %s changed while this change was made; retry", key)
	}
	b.UpdatedAt = s.now().UnixNano()
	b, grown, err := s.movedTo(b, next, b.UpdatedAt)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	reserved, err := s.reserve(ctx, op, b.rec.Account, grown)
	if err != nil {
		return Bucket{}, err
	}
	b, err = s.saveBucket(ctx, op, txn, b)
	reserved(err == nil)
	if err != nil {
		return Bucket{}, err
	}
	return b, s.afterCommit(op, s.published(ctx, op, b))
}

// afterCommit reports err, a failure of the bookkeeping that follows a
// committed change (its IPNS record, the usage figure), to the log and
// returns nil: the change stands, and the caller must not be told
// otherwise and retry it. The record is signed again by the next change or
// the re-signing loop; the usage is recounted by the next collection.
func (s *Service) afterCommit(op errors.Op, err error) error {
	if err != nil && s.cfg.Log != nil {
		s.cfg.Log.Warn("bucket change committed, but what follows it failed", "op", op, "err", err)
	}
	return nil
}

// movedTo returns b at the root next, changed at the time updated, and by
// how many bytes next's DAG is truly larger than the recorded root's.
func (s *Service) movedTo(b Bucket, next ipld.Node, updated int64) (Bucket, int64, error) {
	size, err := s.sizes.size(next)
	if err != nil {
		return Bucket{}, 0, err
	}
	grown := size - b.rec.Size
	b.Path = "/ipfs/" + next.Cid().String()
	b.rec.Root, b.rec.Size, b.rec.Updated = next.Cid().String(), size, updated
	return b, grown, nil
}

func mustRoot(b Bucket) cid.Cid {
	c, _ := b.Root()
	return c
}

// saveBucket writes b as its bucket instance, and b.rec as its record,
// and commits txn. The blocks b's root links must be durable already
// (flush, before the write transaction opens: a sync inside it would stall
// the DB's writers).
func (s *Service) saveBucket(ctx context.Context, op errors.Op, txn *db.Txn, b Bucket) (Bucket, error) {
	doc, err := json.Marshal(b)
	if err != nil {
		return Bucket{}, errors.E(op, errors.Internal, err)
	}
	if err := txn.Save(ctx, [][]byte{doc}); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := txn.Also(b.rec.put(b.Key)); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if err := txn.Commit(ctx); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	return b, nil
}
