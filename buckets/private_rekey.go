package buckets

import (
	"context"
	"maps"

	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// transcrypt rewrites the file or directory nd, found at srcSegs under the
// keys src, as it must be stored at dstSegs under the keys dst: names are
// opened and sealed again, file contents streamed through decryption and
// encryption, one file at a time. A file whose key does not change is
// kept as it is (its contents are not bound to its path). A nil keyring is
// plaintext, so transcrypt also encrypts a plaintext DAG (SetPath,
// bootstrap) for a private bucket. Every new block is stored in dag;
// nothing is linked.
func transcrypt(ctx context.Context, dag ipld.DAGService, nd ipld.Node, src *keyring, srcSegs []string, dst *keyring, dstSegs []string) (ipld.Node, error) {
	const op errors.Op = "buckets.transcrypt"
	if !isDir(nd) {
		if src != nil && dst != nil && src.keyID(srcSegs) == dst.keyID(dstSegs) {
			return nd, nil
		}
		r, _, err := src.openFile(ctx, dag, nd, srcSegs)
		if err != nil {
			return nil, err
		}
		sealed, err := dst.sealFile(dstSegs, r)
		if err != nil {
			return nil, err
		}
		return Import(ctx, dag, sealed)
	}
	d, err := loadDir(op, dag, nd, join(srcSegs))
	if err != nil {
		return nil, err
	}
	out, err := newDir(dag)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	err = d.ForEachLink(ctx, func(l *ipld.Link) error {
		name, err := src.openName(srcSegs, l.Name)
		if err != nil {
			return err
		}
		child, err := l.GetNode(ctx, dag)
		if err != nil {
			return errors.E(op, errors.Internal, err)
		}
		next, err := transcrypt(ctx, dag, child, src, sub(srcSegs, name), dst, sub(dstSegs, name))
		if err != nil {
			return err
		}
		link, err := dst.sealName(dstSegs, name)
		if err != nil {
			return err
		}
		return out.AddChild(ctx, link, next)
	})
	if err != nil {
		return nil, errors.E(op, err)
	}
	res, err := out.GetNode()
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	if err := dag.Add(ctx, res); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return res, nil
}

// sub returns segs with name appended, sharing nothing with segs.
func sub(segs []string, name string) []string {
	return append(segs[:len(segs):len(segs)], name)
}

// cloneMetadata returns a deep copy of b's metadata, so b can be changed
// without changing the bucket it was read from.
func cloneMetadata(md map[string]Metadata) map[string]Metadata {
	out := make(map[string]Metadata, len(md))
	for p, m := range md {
		m.Roles = maps.Clone(m.Roles)
		out[p] = m
	}
	return out
}

// losesRole reports whether roles, merged into the roles on a path whose
// current roles are cur, lower or remove some identity's role.
func losesRole(cur, roles map[string]Role) bool {
	for who, r := range roles {
		if r < cur[who] {
			return true
		}
	}
	return false
}

// rekey gives the path segs of private bucket b a fresh key, drops the
// keys of the paths below it, and re-encrypts what is at segs under the
// new key. It returns b with the new keys and root; every new block is
// stored, the bucket is not written. Paths outside the subtree keep their
// keys and blocks.
func (s *Service) rekey(ctx context.Context, b Bucket, segs []string) (Bucket, error) {
	const op errors.Op = "buckets.rekey"
	fresh, err := newPathKey()
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	nb := b
	nb.Metadata = cloneMetadata(b.Metadata)
	at := join(segs)
	for p, m := range nb.Metadata {
		if isUnder(p, at) {
			m.Key = ""
			nb.Metadata[p] = m
		}
	}
	if len(segs) == 0 {
		nb.LinkKey = fresh
	} else {
		m := nb.Metadata[at]
		m.Key = fresh
		nb.Metadata[at] = m
	}
	src, dst := keysOf(b), keysOf(nb)
	// The subtree's own link name is sealed by its parent's key, which
	// does not change.
	links, err := src.sealPath(segs)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	root, err := s.dag.Get(ctx, mustRoot(b))
	if err != nil {
		return Bucket{}, errors.E(op, errors.Internal, err)
	}
	nd, err := resolve(ctx, s.dag, root.Cid(), links)
	if errors.Is(errors.NotExist, err) {
		return nb, nil // nothing stored there yet: new keys suffice
	}
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	next, err := transcrypt(ctx, s.dag, nd, src, segs, dst, segs)
	if err != nil {
		return Bucket{}, errors.E(op, err)
	}
	if len(segs) > 0 {
		if next, err = put(ctx, s.dag, s.sizes, root, links, next); err != nil {
			return Bucket{}, errors.E(op, err)
		}
	}
	if nb, _, err = s.movedTo(nb, next, b.UpdatedAt); err != nil {
		return Bucket{}, errors.E(op, err)
	}
	return nb, nil
}
