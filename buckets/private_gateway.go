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

// GatewayPrivate opens the path of private bucket key in DB thread for p,
// the principal a token or link acts as (the gateway checks it and finds
// whom it acts as toward the bucket's app). Access is decided exactly as for the bucket
// API (open, see access.go), so a role means the same at both doors:
// Permission without Reader on the path, NotExist when the bucket is out
// of p's reach or nothing is at the path.
func (s *Service) GatewayPrivate(ctx context.Context, p hub.Principal, thread threads.ID, key, path string) (PrivateEntry, error) {
	const op errors.Op = "buckets.GatewayPrivate"
	segs, err := CleanPath(path)
	if err != nil {
		return PrivateEntry{}, errors.E(op, err)
	}
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleReader)
	if err != nil {
		return PrivateEntry{}, err
	}
	if !b.IsPrivate() {
		return PrivateEntry{}, errors.Errorf(op, errors.Invalid, "bucket %s is public; read it without a token", key)
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
