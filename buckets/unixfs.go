package buckets

import (
	"context"
	stderrors "errors"
	"io"
	"os"

	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// Profile is the UnixFS import profile: unixfs-v1-2025 (IPIP-499), so the
// same bytes get the same CID as kubo with that profile: CIDv1, SHA2-256,
// raw leaves, 1 MiB chunks, balanced layout with 1024 links per node, HAMT
// directories past 256 KiB of estimated block size.
var Profile = uio.UnixFS_v1_2025

// Import reads r to its end and stores it as a UnixFS file DAG in dag,
// returning the root node. It holds at most one chunk and one batch of
// blocks in memory, whatever the size of the data.
func Import(ctx context.Context, dag ipld.DAGService, r io.Reader) (ipld.Node, error) {
	const op errors.Op = "buckets.Import"
	batch := ipld.NewBufferedDAG(ctx, dag)
	params := helpers.DagBuilderParams{
		Maxlinks:   Profile.FileDAGWidth,
		RawLeaves:  Profile.RawLeaves,
		CidBuilder: Profile.CidBuilder(),
		Dagserv:    batch,
	}
	db, err := params.New(chunker.NewSizeSplitter(readErrGuard{r}, Profile.ChunkSize))
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		return nil, errors.E(op, readErrKind(ctx), err)
	}
	if err := batch.Commit(); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return nd, nil
}

// readErrGuard hides io.ErrUnexpectedEOF from the chunker, which takes it
// for the short last chunk (it reads with io.ReadFull) and would store a
// truncated file as if it were whole.
type readErrGuard struct{ r io.Reader }

// errTruncated is the reader's io.ErrUnexpectedEOF, renamed.
var errTruncated = stderrors.New("the data stream ended early (unexpected EOF)")

func (g readErrGuard) Read(b []byte) (int, error) {
	n, err := g.r.Read(b)
	if err == io.ErrUnexpectedEOF {
		err = errTruncated
	}
	return n, err
}

// readErrKind classifies a failure while reading the caller's data: the
// caller going away, or a broken stream (the caller's fault).
func readErrKind(ctx context.Context) errors.Kind {
	if ctx.Err() != nil {
		return errors.Canceled
	}
	return errors.Invalid
}

// Export writes the contents of the UnixFS file at nd to w, streaming.
func Export(ctx context.Context, dag ipld.DAGService, nd ipld.Node, w io.Writer) error {
	const op errors.Op = "buckets.Export"
	r, err := uio.NewDagReader(ctx, nd, dag)
	if err == uio.ErrIsDir {
		return errors.E(op, errors.Invalid, "the path is a directory; pull a file, or list the directory")
	}
	if err != nil {
		return errors.E(op, errors.Internal, err)
	}
	if _, err := r.WriteTo(w); err != nil {
		return errors.E(op, errors.KindOf(err), err)
	}
	return nil
}

// newDir returns an empty directory with the profile's settings.
func newDir(dag ipld.DAGService) (uio.Directory, error) {
	return uio.NewDirectory(dag,
		uio.WithCidBuilder(Profile.CidBuilder()),
		uio.WithSizeEstimationMode(Profile.HAMTSizeEstimation),
		uio.WithMaxHAMTFanout(Profile.HAMTShardWidth))
}

// emptyDir stores and returns an empty directory node.
func emptyDir(ctx context.Context, dag ipld.DAGService) (ipld.Node, error) {
	d, err := newDir(dag)
	if err != nil {
		return nil, err
	}
	nd, err := d.GetNode()
	if err != nil {
		return nil, err
	}
	return nd, dag.Add(ctx, nd)
}

// loadDir opens the directory at nd; a file is Invalid for op, naming p.
func loadDir(op errors.Op, dag ipld.DAGService, nd ipld.Node, p string) (uio.Directory, error) {
	d, err := uio.NewDirectoryFromNode(dag, nd)
	if err == uio.ErrNotADir || err == nil && d == nil {
		return nil, errors.Errorf(op, errors.Invalid, "%q is a file, not a directory", "/"+p)
	}
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return d, nil
}

// isDir reports whether nd is a UnixFS directory or HAMT shard.
func isDir(nd ipld.Node) bool {
	pn, ok := nd.(*merkledag.ProtoNode)
	if !ok {
		return false
	}
	_, err := uio.NewDirectoryFromNode(nil, pn)
	return err == nil
}

// resolve walks segs from root and returns the node there.
func resolve(ctx context.Context, dag ipld.DAGService, root cid.Cid, segs []string) (ipld.Node, error) {
	const op errors.Op = "buckets.resolve"
	nd, err := dag.Get(ctx, root)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	for i, s := range segs {
		d, err := loadDir(op, dag, nd, join(segs[:i]))
		if err != nil {
			return nil, err
		}
		nd, err = d.Find(ctx, s)
		if noEntry(err) || err == nil && nd == nil {
			return nil, errors.Errorf(op, errors.NotExist, "no file or directory at %q", "/"+join(segs[:i+1]))
		}
		if err != nil {
			return nil, errors.E(op, errors.Internal, err)
		}
	}
	return nd, nil
}

// noEntry reports whether err says a directory has no such name.
func noEntry(err error) bool {
	return stderrors.Is(err, os.ErrNotExist) || stderrors.Is(err, merkledag.ErrLinkNotFound)
}

// put returns a new root in which segs names child, creating missing
// parent directories. Every new node is stored in dag.
func put(ctx context.Context, dag ipld.DAGService, root ipld.Node, segs []string, child ipld.Node) (ipld.Node, error) {
	return edit(ctx, dag, root, segs, 0, func(d uio.Directory, name string) error {
		return d.AddChild(ctx, name, child)
	})
}

// remove returns a new root without the entry segs names.
func remove(ctx context.Context, dag ipld.DAGService, root ipld.Node, segs []string) (ipld.Node, error) {
	const op errors.Op = "buckets.remove"
	return edit(ctx, dag, root, segs, 0, func(d uio.Directory, name string) error {
		err := d.RemoveChild(ctx, name)
		if noEntry(err) {
			return errors.Errorf(op, errors.NotExist, "no file or directory at %q", "/"+join(segs))
		}
		return err
	})
}

// edit applies fn to the directory holding segs[len(segs)-1] and rewrites
// the directories above it; missing intermediate directories are created.
func edit(ctx context.Context, dag ipld.DAGService, nd ipld.Node, segs []string, depth int, fn func(uio.Directory, string) error) (ipld.Node, error) {
	const op errors.Op = "buckets.edit"
	d, err := loadDir(op, dag, nd, join(segs[:depth]))
	if err != nil {
		return nil, err
	}
	name := segs[depth]
	if depth == len(segs)-1 {
		if err := fn(d, name); err != nil {
			return nil, errors.E(op, err)
		}
	} else {
		sub, err := d.Find(ctx, name)
		switch {
		case err == nil:
		case noEntry(err):
			if sub, err = emptyDir(ctx, dag); err != nil {
				return nil, errors.E(op, errors.Internal, err)
			}
		default:
			return nil, errors.E(op, errors.Internal, err)
		}
		sub, err = edit(ctx, dag, sub, segs, depth+1, fn)
		if err != nil {
			return nil, err
		}
		if err := d.AddChild(ctx, name, sub); err != nil {
			return nil, errors.E(op, errors.Internal, err)
		}
	}
	out, err := d.GetNode()
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	if err := dag.Add(ctx, out); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return out, nil
}
