package buckets

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// ensureCollection creates the buckets collection in d, with its schema,
// if d lacks one.
func (s *Service) ensureCollection(ctx context.Context, p hub.Principal, d *db.DB) error {
	if _, err := d.CollectionInfo(ctx, Collection); err == nil {
		return nil
	} else if !errors.Is(errors.NotExist, err) {
		return err
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if _, err := d.CollectionInfo(ctx, Collection); err == nil {
		return nil
	}
	err := d.NewCollection(ctx, p, collectionConfig())
	if errors.Is(errors.Exist, err) {
		return nil
	}
	return err
}

// Create makes a bucket named name in the DB thread, with a seed file at
// its root, on top of the directory bootstrap if that is defined (it must
// already be in this hub's blockstore). A private bucket gets a fresh
// bucket key, and a bootstrap directory is encrypted under it.
// It returns the bucket and the seed file's CID.
func (s *Service) Create(ctx context.Context, p hub.Principal, thread threads.ID, name string, private bool, bootstrap cid.Cid) (Bucket, cid.Cid, error) {
	const op errors.Op = "buckets.Create"
	switch {
	case strings.TrimSpace(name) == "":
		return Bucket{}, cid.Undef, errors.E(op, errors.Invalid, "bucket name is empty; give the bucket a name")
	case len(name) > MaxBucketNameLen:
		return Bucket{}, cid.Undef, errors.Errorf(op, errors.Invalid, "bucket name is %d bytes; the limit is %d", len(name), MaxBucketNameLen)
	}
	d, err := s.bucketsDB(ctx, p, thread)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	if err := s.ensureCollection(ctx, p, d); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	var root ipld.Node
	if bootstrap.Defined() {
		if root, err = s.stored(ctx, op, bootstrap); err != nil {
			return Bucket{}, cid.Undef, err
		}
		if !isDir(root) {
			return Bucket{}, cid.Undef, errors.Errorf(op, errors.Invalid, "CID %s is not a UnixFS directory; bootstrap a bucket from a directory", bootstrap)
		}
	} else if root, err = emptyDir(ctx, s.dag); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, errors.Internal, err)
	}
	var linkKey string
	if private {
		if linkKey, err = newPathKey(); err != nil {
			return Bucket{}, cid.Undef, errors.E(op, err)
		}
	}
	keys := keysOf(Bucket{LinkKey: linkKey})
	if keys != nil && bootstrap.Defined() {
		if root, err = transcrypt(ctx, s.dag, root, nil, nil, keys, nil); err != nil {
			return Bucket{}, cid.Undef, errors.E(op, err)
		}
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	sealed, err := keys.sealFile([]string{SeedName}, bytes.NewReader(seed))
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	seedNode, err := Import(ctx, s.dag, sealed)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	seedLink, err := keys.sealName(nil, SeedName)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	if root, err = put(ctx, s.dag, s.sizes, root, []string{seedLink}, seedNode); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	sk, key, err := NewKey()
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, errors.Internal, err)
	}
	raw, err := crypto.MarshalPrivateKey(sk)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, errors.Internal, err)
	}
	now := s.now().UnixNano()
	size, err := s.sizes.size(root)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	// Charged to the account, not the identity: an app's users share
	// their app's quota, so fresh identities do not bring fresh quotas.
	rec := record{Thread: thread.String(), Account: p.Account, Root: root.Cid().String(), Size: size, Private: private, Updated: now}
	bkt := Bucket{
		Key: key, Name: name, Owner: string(p.Owner()), Version: Version, LinkKey: linkKey,
		Path: "/ipfs/" + root.Cid().String(),
		Metadata: map[string]Metadata{
			"": {Roles: map[string]Role{string(p.Owner()): RoleAdmin}, UpdatedAt: now},
		},
		CreatedAt: now, UpdatedAt: now, Thread: thread, rec: rec,
	}
	reserved, err := s.reserve(ctx, op, rec.Account, size)
	if err != nil {
		return Bucket{}, cid.Undef, err
	}
	created := false
	defer func() { reserved(created) }()
	if err := s.flush(ctx, op); err != nil {
		return Bucket{}, cid.Undef, err
	}
	txn, err := d.WriteTxn(ctx, p, Collection)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	defer txn.Discard()
	doc, err := json.Marshal(bkt)
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, errors.Internal, err)
	}
	if _, err := txn.Create(ctx, [][]byte{doc}); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	err = txn.Also(func(b *store.Batch) {
		b.PutRaw(ipnsKeyKey(key), raw)
		rec.put(key)(b)
	})
	if err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	if err := txn.Commit(ctx); err != nil {
		return Bucket{}, cid.Undef, errors.E(op, err)
	}
	created = true
	return bkt, seedNode.Cid(), s.afterCommit(op, s.published(ctx, op, bkt))
}

// Remove deletes the bucket. Its blocks are deleted by the next garbage
// collection, unless something else still links them. The DB's owner may
// also remove a bucket whose instance it deleted, or made unreadable,
// through the threads API, which leaves the hub's record and its charge
// (record.go). A removal that committed returns nil whatever follows it
// fails (afterCommit); removing it again is NotExist.
func (s *Service) Remove(ctx context.Context, p hub.Principal, thread threads.ID, key string) error {
	const op errors.Op = "buckets.Remove"
	if err := CheckKey(key); err != nil {
		return errors.E(op, err)
	}
	r, err := s.reachDB(ctx, p, thread)
	if err != nil {
		return errors.E(op, err)
	}
	unlock := s.lock(thread, key)
	defer unlock()
	txn, err := r.d.WriteTxn(ctx, r.as, Collection)
	if err != nil {
		return errors.E(op, notFound(key, err))
	}
	defer txn.Discard()
	b, err := s.decodeBucket(op, txn, key, thread)
	switch {
	case err == nil:
		if err := r.authorize(op, b, nil, RoleAdmin); err != nil {
			return err
		}
		if err := txn.Delete(ctx, []string{key}); err != nil {
			return errors.E(op, err)
		}
	case errors.Is(errors.FailedPrecondition, err) && r.owner:
		// The owner rewrote the instance through the threads API into
		// something that is not a bucket (with the collection's schema
		// dropped): it may still remove the bucket, which the record
		// describes, instead of being charged for it for ever.
		if b.rec, err = s.homeRecord(thread, key); err != nil {
			return errors.E(op, notFound(key, err))
		}
		if err := txn.Delete(ctx, []string{key}); err != nil {
			return errors.E(op, err)
		}
	case errors.Is(errors.NotExist, err) && r.owner:
		if b.rec, err = s.homeRecord(thread, key); err != nil {
			return errors.E(op, notFound(key, err))
		}
	default:
		return err
	}
	err = txn.Also(func(kb *store.Batch) {
		kb.Delete(recordKey(key))
		kb.Delete(ipnsKeyKey(key))
	})
	if err != nil {
		return errors.E(op, err)
	}
	reserved, err := s.reserve(ctx, op, b.rec.Account, -b.rec.Size)
	if err != nil {
		return err
	}
	err = txn.Commit(ctx)
	reserved(err == nil)
	if err != nil {
		return errors.E(op, err)
	}
	return s.afterCommit(op, s.unpublished(ctx, op, key))
}
