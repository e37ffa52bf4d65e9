package buckets

import (
	"context"
	"encoding/json"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// List returns the buckets in the DB thread.
func (s *Service) List(ctx context.Context, p hub.Principal, thread threads.ID) ([]Bucket, error) {
	const op errors.Op = "buckets.List"
	r, err := s.reachDB(ctx, p, thread)
	if err != nil {
		return nil, errors.E(op, err)
	}
	txn, err := r.d.ReadTxn(ctx, r.as, Collection)
	if errors.Is(errors.NotExist, err) {
		return nil, nil // no bucket was ever made here
	}
	if err != nil {
		return nil, errors.E(op, err)
	}
	defer txn.Discard()
	all, err := s.findBuckets(ctx, txn, thread)
	if err != nil {
		return nil, errors.E(op, err)
	}
	out := all[:0]
	for _, b := range all {
		if r.authorizeAny(op, b) == nil { // else another identity's bucket in which the caller has no role
			out = append(out, b)
		}
	}
	return out, nil
}

// Get returns the bucket with the given key (NotExist if there is none).
// A caller other than the owner needs a role somewhere in the bucket.
func (s *Service) Get(ctx context.Context, p hub.Principal, thread threads.ID, key string) (Bucket, error) {
	const op errors.Op = "buckets.Get"
	_, b, err := s.open(ctx, op, p, thread, key, nil, anyRoleNeeded)
	return b, err
}

func notFound(key string, err error) error {
	if errors.Is(errors.NotExist, err) {
		return errors.Errorf("", errors.NotExist, "bucket %s not found in this thread", errors.Clip(key))
	}
	return err
}

// decodeBucket reads the bucket key from txn, a transaction on DB
// thread's buckets collection, at the root the hub recorded (record.go).
func (s *Service) decodeBucket(op errors.Op, txn *db.Txn, key string, thread threads.ID) (Bucket, error) {
	rec, err := s.homeRecord(thread, key)
	if err != nil {
		return Bucket{}, errors.E(op, notFound(key, err))
	}
	raw, err := txn.FindByID(context.Background(), key)
	if err != nil {
		return Bucket{}, errors.E(op, notFound(key, err))
	}
	return s.asRecorded(op, raw, thread, rec)
}

// asRecorded decodes the instance raw of a bucket in DB thread and sets
// what the hub recorded over what the instance says.
func (s *Service) asRecorded(op errors.Op, raw []byte, thread threads.ID, rec record) (Bucket, error) {
	var b Bucket
	if err := json.Unmarshal(raw, &b); err != nil {
		return Bucket{}, errors.Errorf(op, errors.FailedPrecondition, "the instance of this bucket is not a bucket (it was changed through the threads API): %v", err)
	}
	b.Thread, b.rec, b.Path = thread, rec, "/ipfs/"+rec.Root
	if b.Metadata == nil { // written without it before the schema: write it back whole
		b.Metadata = map[string]Metadata{}
	}
	return b, nil
}

// homeRecord returns the record of bucket key if the bucket was made in
// DB thread, NotExist otherwise. An instance in another DB is not the
// bucket: anyone may write any instance into their own DB through the
// threads API, and such a copy must not reach the bucket's IPNS key or
// its record.
func (s *Service) homeRecord(thread threads.ID, key string) (record, error) {
	rec, err := s.recordOf(key)
	if err == nil && rec.Thread != thread.String() {
		err = errors.E(errors.NotExist)
	}
	return rec, err
}
