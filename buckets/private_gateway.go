package buckets

import (
	"context"
	"io"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// PrivateEntry is a file or directory of a private bucket, decrypted for
// the gateway.
type PrivateEntry struct {
	Item                  // plaintext names and sizes; a directory's entries one level deep
	File    io.ReadSeeker // a file's contents, seekable for range requests
	Updated int64         // Unix ns of the bucket's last change
}

// GatewayPrivate opens the path of private bucket key in DB thread for the
// identity who (proven by a token, which the gateway checks). who needs
// Reader on the path unless it owns the bucket: Permission otherwise;
// NotExist when nothing is at the path.
func (s *Service) GatewayPrivate(ctx context.Context, thread threads.ID, key string, who hub.PubKey, path string) (PrivateEntry, error) {
	const op errors.Op = "buckets.GatewayPrivate"
	segs, err := CleanPath(path)
	if err != nil {
		return PrivateEntry{}, errors.E(op, err)
	}
	txn, err := s.ownerTxn(ctx, thread)
	if err != nil {
		return PrivateEntry{}, errors.E(op, notFound(key, err))
	}
	b, err := s.decodeBucket(op, txn, key, thread)
	txn.Discard()
	if err != nil {
		return PrivateEntry{}, err
	}
	if !b.IsPrivate() {
		return PrivateEntry{}, errors.Errorf(op, errors.Invalid, "bucket %s is public; read it without a token", key)
	}
	if have := b.RoleOf(string(who), segs); string(who) != b.Owner && have < RoleReader {
		return PrivateEntry{}, errors.Errorf(op, errors.Permission,
			"identity %s has role %v on /%s of bucket %s and needs Reader: the bucket's owner can grant it", errors.Clip(string(who)), have, join(segs), key)
	}
	keys := keysOf(b)
	nd, err := s.find(ctx, keys, mustRoot(b), segs)
	if err != nil {
		return PrivateEntry{}, errors.E(op, err)
	}
	it, err := s.item(ctx, keys, nd, segs, true)
	if err != nil {
		return PrivateEntry{}, errors.E(op, err)
	}
	e := PrivateEntry{Item: it, Updated: b.UpdatedAt}
	if !it.IsDir {
		if e.File, _, err = keys.openFile(ctx, s.dag, nd, segs); err != nil {
			return PrivateEntry{}, errors.E(op, err)
		}
	}
	return e, nil
}
