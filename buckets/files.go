package buckets

import (
	"context"
	stderrors "errors"
	"io"
	"strings"

	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// PushResult is what a push stored.
type PushResult struct {
	Cid    cid.Cid // the file's CID
	Size   int64   // bytes read
	Bucket Bucket  // the bucket at its new root
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// PushPath stores r, read to its end, as the file at path, replacing what
// was there. root is the root the caller last saw ("/ipfs/<cid>" or a CID);
// if the bucket is elsewhere the push is refused with FailedPrecondition,
// before and after the data is read. An empty root forces the push. The
// data streams into the blockstore; only then is the bucket's root moved.
func (s *Service) PushPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string, r io.Reader, root string) (PushResult, error) {
	const op errors.Op = "buckets.PushPath"
	segs, err := CleanPath(path)
	if err != nil {
		return PushResult{}, errors.E(op, err)
	}
	if len(segs) == 0 {
		return PushResult{}, errors.E(op, errors.Invalid, "path is empty; name the file to push, such as dir/file.txt")
	}
	// Fail fast, before reading what may be gigabytes.
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleWriter)
	if err != nil {
		return PushResult{}, err
	}
	if err := checkRoot(op, b, root); err != nil {
		return PushResult{}, err
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	cr, err := s.meter(ctx, op, b.rec.Account, r)
	if err != nil {
		return PushResult{}, err
	}
	keys := keysOf(b)
	sealed, err := keys.sealFile(segs, cr)
	if err != nil {
		return PushResult{}, errors.E(op, err)
	}
	file, err := Import(ctx, s.dag, sealed)
	if err != nil {
		return PushResult{}, errors.E(op, err)
	}
	used := keys.keyID(segs)
	b, err = s.updateKeyed(ctx, op, p, thread, key, root, RoleWriter, [][]string{segs}, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		return s.link(ctx, b, cur, segs, used, file)
	})
	if err != nil {
		return PushResult{}, err
	}
	return PushResult{Cid: file.Cid(), Size: cr.n, Bucket: b}, nil
}

// PullPath writes the contents of the file at path to w.
func (s *Service) PullPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string, w io.Writer) error {
	const op errors.Op = "buckets.PullPath"
	segs, err := CleanPath(path)
	if err != nil {
		return errors.E(op, err)
	}
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleReader)
	if err != nil {
		return err
	}
	root, err := b.Root()
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	keys := keysOf(b)
	nd, err := s.find(ctx, keys, root, segs)
	if err != nil {
		return errors.E(op, err)
	}
	r, _, err := keys.openFile(ctx, s.dag, nd, segs)
	if err != nil {
		return errors.E(op, err)
	}
	if _, err := r.WriteTo(w); err != nil {
		return errors.E(op, errors.KindOf(err), err)
	}
	return nil
}

// PullIPFSPath writes the file at /ipfs/<cid>[/path] to w.
func (s *Service) PullIPFSPath(ctx context.Context, ipfsPath string, w io.Writer) error {
	const op errors.Op = "buckets.PullIPFSPath"
	root, segs, err := s.parseIPFSPath(ipfsPath)
	if err != nil {
		return errors.E(op, err)
	}
	nd, err := resolve(ctx, s.dag, root, segs)
	if err != nil {
		return errors.E(op, err)
	}
	return Export(ctx, s.dag, nd, w)
}

// stored returns the node c after checking that this hub holds every
// block of the DAG under it, so a bucket never links a partial DAG, and
// recording its true sizes where its links record others (verifyDAG).
// (Reading them also keeps them from a garbage collection running now.)
func (s *Service) stored(ctx context.Context, op errors.Op, c cid.Cid) (ipld.Node, error) {
	nd, err := s.verifyDAG(ctx, c, nil)
	var m missingBlock
	switch {
	case stderrors.As(err, &m) && m.c.Equals(c):
		return nil, errors.Errorf(op, errors.NotExist, "CID %s is not in this hub; push its contents or import a CAR first", c)
	case stderrors.As(err, &m):
		return nil, errors.Errorf(op, errors.NotExist, "the DAG under %s is incomplete in this hub (block %s is missing); import all of it first, such as with a CAR", c, m.c)
	case err != nil:
		return nil, errors.E(op, err)
	}
	return nd, nil
}

// SetPath links the existing DAG c (which must be in this hub) at path;
// an empty path replaces the whole root with c, which must be a directory.
func (s *Service) SetPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string, c cid.Cid) (Bucket, error) {
	const op errors.Op = "buckets.SetPath"
	segs, err := CleanPath(path)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	nd, err := s.stored(ctx, op, c)
	if err != nil {
		return Bucket{}, err
	}
	if len(segs) == 0 && !isDir(nd) {
		return Bucket{}, errors.Errorf(op, errors.Invalid, "CID %s is a file; a bucket's root must be a directory", c)
	}
	return s.updateKeyed(ctx, op, p, thread, key, "", RoleWriter, [][]string{segs}, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		keys := keysOf(b)
		nd := nd
		if keys != nil { // c is plaintext: encrypt it for its place
			var err error
			if nd, err = transcrypt(ctx, s.dag, nd, nil, nil, keys, segs); err != nil {
				return nil, err
			}
		}
		if len(segs) == 0 {
			return nd, nil
		}
		return s.link(ctx, b, cur, segs, keys.keyID(segs), nd)
	})
}

// MovePath moves the file or directory at from to to, replacing what was
// at to. Moving the root, or a directory into itself, is Invalid.
func (s *Service) MovePath(ctx context.Context, p hub.Principal, thread threads.ID, key, from, to string) (Bucket, error) {
	const op errors.Op = "buckets.MovePath"
	fsegs, err := CleanPath(from)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	tsegs, err := CleanPath(to)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	switch {
	case len(fsegs) == 0 || len(tsegs) == 0:
		return Bucket{}, errors.E(op, errors.Invalid, "cannot move the bucket's root or onto it; name a file or directory inside the bucket")
	case join(fsegs) == join(tsegs):
		return Bucket{}, errors.E(op, errors.Invalid, "source and destination are the same path")
	case strings.HasPrefix(join(tsegs)+"/", join(fsegs)+"/"):
		return Bucket{}, errors.Errorf(op, errors.Invalid, "cannot move %q into itself", "/"+join(fsegs))
	}
	return s.updateKeyed(ctx, op, p, thread, key, "", RoleWriter, [][]string{fsegs, tsegs}, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		keys := keysOf(b)
		nd, err := s.find(ctx, keys, cur.Cid(), fsegs)
		if err != nil {
			return nil, err
		}
		from, err := keys.sealPath(fsegs)
		if err != nil {
			return nil, err
		}
		next, err := remove(ctx, s.dag, s.sizes, cur, from)
		if err != nil {
			return nil, err
		}
		if keys != nil {
			// Names are bound to their directories, and another path
			// key may govern the destination: seal again what must be.
			if nd, err = transcrypt(ctx, s.dag, nd, keys, fsegs, keys, tsegs); err != nil {
				return nil, err
			}
		}
		return s.link(ctx, b, next, tsegs, keys.keyID(tsegs), nd)
	})
}

// RemovePath removes the file or directory at path, fast-forward only
// against root as PushPath.
func (s *Service) RemovePath(ctx context.Context, p hub.Principal, thread threads.ID, key, path, root string) (Bucket, error) {
	return s.RemovePaths(ctx, p, thread, key, []string{path}, root)
}

// RemovePaths removes the files or directories at paths in one change of
// the bucket, fast-forward only against root as PushPath: all of them or,
// when one names nothing (NotExist) or is not the caller's to change,
// none.
func (s *Service) RemovePaths(ctx context.Context, p hub.Principal, thread threads.ID, key string, paths []string, root string) (Bucket, error) {
	const op errors.Op = "buckets.RemovePaths"
	if len(paths) == 0 {
		return Bucket{}, errors.E(op, errors.Invalid, "name at least one path to remove")
	}
	all := make([][]string, len(paths))
	for i, path := range paths {
		segs, err := CleanPath(path)
		if err != nil {
			return Bucket{}, errors.E(op, err)
		}
		if len(segs) == 0 {
			return Bucket{}, errors.E(op, errors.Invalid, "cannot remove the bucket's root; remove the bucket instead")
		}
		all[i] = segs
	}
	return s.updateKeyed(ctx, op, p, thread, key, root, RoleWriter, all, func(b Bucket, cur ipld.Node) (ipld.Node, error) {
		keys := keysOf(b)
		t, err := newDirTree(ctx, s.dag, s.sizes, cur)
		if err != nil {
			return nil, err
		}
		for _, segs := range all {
			links, err := keys.sealPath(segs)
			if err != nil {
				return nil, err
			}
			if err := t.remove(ctx, links); err != nil {
				return nil, keys.plainErr(segs, err)
			}
		}
		return t.node(ctx)
	})
}
