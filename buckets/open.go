package buckets

import (
	"context"
	"io"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// OpenPath describes the file or directory at path, as ListPath does
// (without a directory's entries), and opens a file for reading at any
// offset: the reader seeks through the UnixFS DAG (and, in a private
// bucket, to the encrypted segment that holds an offset), so a range read
// costs what the range does, not what the bytes before it do. The item,
// the bucket and the reader come from one root, so what a reader says
// about a file and the bytes it sends describe the same version. The
// reader is nil for a directory.
func (s *Service) OpenPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string) (Item, Bucket, io.ReadSeeker, error) {
	const op errors.Op = "buckets.OpenPath"
	segs, err := CleanPath(path)
	if err != nil {
		return Item{}, Bucket{}, nil, errors.E(op, err)
	}
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleReader)
	if err != nil {
		return Item{}, Bucket{}, nil, err
	}
	root, err := b.Root()
	if err != nil {
		return Item{}, Bucket{}, nil, errors.E(op, errors.Internal, err)
	}
	keys := keysOf(b)
	nd, err := s.find(ctx, keys, root, segs)
	if err != nil {
		return Item{}, Bucket{}, nil, errors.E(op, err)
	}
	it, err := s.item(ctx, keys, nd, segs, false)
	if err != nil {
		return Item{}, Bucket{}, nil, errors.E(op, err)
	}
	if it.IsDir {
		return it, b, nil, nil
	}
	r, _, err := keys.openFile(ctx, s.dag, nd, segs)
	if err != nil {
		return Item{}, Bucket{}, nil, errors.E(op, err)
	}
	return it, b, r, nil
}
