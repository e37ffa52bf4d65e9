package buckets

import (
	"context"
	"strings"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// Item describes a file or directory in a bucket.
type Item struct {
	Cid        cid.Cid
	Name       string
	Path       string // from the bucket's root, without a leading slash
	Size       int64  // file size; for directories the DAG's cumulative size
	IsDir      bool
	Items      []Item // a directory's entries, one level deep
	ItemsCount int
}

// ListPath describes the file or directory at path in the bucket, with a
// directory's entries one level deep.
func (s *Service) ListPath(ctx context.Context, p hub.Principal, thread threads.ID, key, path string) (Item, Bucket, error) {
	const op errors.Op = "buckets.ListPath"
	segs, err := CleanPath(path)
	if err != nil {
		return Item{}, Bucket{}, errors.E(op, err)
	}
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleReader)
	if err != nil {
		return Item{}, Bucket{}, err
	}
	root, err := b.Root()
	if err != nil {
		return Item{}, Bucket{}, errors.E(op, errors.Internal, err)
	}
	keys := keysOf(b)
	nd, err := s.find(ctx, keys, root, segs)
	if err != nil {
		return Item{}, Bucket{}, errors.E(op, err)
	}
	it, err := s.item(ctx, keys, nd, segs, true)
	if err != nil {
		return Item{}, Bucket{}, errors.E(op, err)
	}
	return it, b, nil
}

// ListIPFSPath is ListPath for any UnixFS path /ipfs/<cid>[/path] in this
// hub's blockstore.
func (s *Service) ListIPFSPath(ctx context.Context, ipfsPath string) (Item, error) {
	const op errors.Op = "buckets.ListIPFSPath"
	root, segs, err := s.parseIPFSPath(ipfsPath)
	if err != nil {
		return Item{}, errors.E(op, err)
	}
	nd, err := resolve(ctx, s.dag, root, segs)
	if err != nil {
		return Item{}, errors.E(op, err)
	}
	return s.item(ctx, nil, nd, segs, true)
}

func (s *Service) parseIPFSPath(p string) (cid.Cid, []string, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(p, "/"), "ipfs/")
	c, rest, _ := strings.Cut(t, "/")
	root, err := cid.Decode(c)
	if err != nil {
		return cid.Undef, nil, errors.Errorf("", errors.Invalid, "%q is not /ipfs/<cid>[/path]", errors.Clip(p))
	}
	segs, err := CleanPath(rest)
	if err != nil {
		return cid.Undef, nil, err
	}
	if _, err := s.dag.Get(context.Background(), root); ipld.IsNotFound(err) {
		return cid.Undef, nil, errors.Errorf("", errors.NotExist, "CID %s is not in this hub (fetching from the IPFS network comes in a later increment)", root)
	}
	return root, segs, nil
}

// item describes nd, at the path segs; keys opens the names and sizes of a
// private bucket (nil: they are shown as stored).
func (s *Service) item(ctx context.Context, keys *keyring, nd ipld.Node, segs []string, expand bool) (Item, error) {
	const op errors.Op = "buckets.item"
	it := Item{Cid: nd.Cid(), Path: join(segs)}
	if len(segs) > 0 {
		it.Name = segs[len(segs)-1]
	}
	if !isDir(nd) {
		size, err := fileSize(nd)
		if err != nil {
			return Item{}, err
		}
		if it.Size, err = keys.plainSize(size); err != nil {
			return Item{}, err
		}
		return it, nil
	}
	it.IsDir = true
	var err error
	if it.Size, err = s.sizes.size(nd); err != nil {
		return Item{}, err
	}
	d, err := loadDir(op, s.dag, nd, join(segs))
	if err != nil {
		return Item{}, err
	}
	err = d.ForEachLink(ctx, func(l *ipld.Link) error {
		it.ItemsCount++
		if !expand {
			return nil
		}
		name, err := keys.openName(segs, l.Name)
		if err != nil {
			return err
		}
		child, err := l.GetNode(ctx, s.dag)
		if err != nil {
			return err
		}
		entry, err := s.item(ctx, keys, child, sub(segs, name), false)
		if err != nil {
			return err
		}
		it.Items = append(it.Items, entry)
		return nil
	})
	if err != nil {
		return Item{}, errors.E(errors.KindOf(err), err)
	}
	return it, nil
}

// fileSize returns the size of the UnixFS file at nd.
func fileSize(nd ipld.Node) (int64, error) {
	pn, ok := nd.(*merkledag.ProtoNode)
	if !ok {
		return int64(len(nd.RawData())), nil // a raw leaf
	}
	fs, err := unixfs.FSNodeFromBytes(pn.Data())
	if err != nil {
		return 0, errors.E(errors.Internal, err)
	}
	return int64(fs.FileSize()), nil
}
