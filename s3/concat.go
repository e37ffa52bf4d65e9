package s3

import (
	"context"

	"github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
)

// concatFanout is the most links a node of a concatenated file has: the
// width of UnixFS's older profile, whose blocks every IPFS node accepts
// (10,000 parts at 1,024 links would make a block past 1 MiB).
const concatFanout = 174

// concat stores the UnixFS file whose contents are the files parts (with
// sizes their bytes), one after the other, and returns its root. The
// parts' DAGs are linked as they are: no block of theirs is read but their
// roots, and none is copied. Nodes are built with the CID version of the
// first part, so that the object matches the profile its parts were
// imported with. A single part is its own concatenation.
func concat(ctx context.Context, dag ipld.DAGService, parts []cid.Cid, sizes []uint64) (cid.Cid, error) {
	const op errors.Op = "s3.concat"
	if len(parts) == 1 {
		return parts[0], nil
	}
	prefix := merkledag.V1CidPrefix()
	if parts[0].Version() == 0 {
		prefix = merkledag.V0CidPrefix()
	}
	level := make([]ipld.Node, len(parts))
	for i, c := range parts {
		nd, err := dag.Get(ctx, c)
		if err != nil {
			return cid.Undef, errors.E(op, errors.Internal, err)
		}
		level[i] = nd
	}
	for {
		var next []ipld.Node
		var nextSizes []uint64
		for i := 0; i < len(level); i += concatFanout {
			end := min(i+concatFanout, len(level))
			nd, err := fileNode(level[i:end], sizes[i:end], prefix)
			if err != nil {
				return cid.Undef, errors.E(op, errors.Internal, err)
			}
			next = append(next, nd)
			var n uint64
			for _, s := range sizes[i:end] {
				n += s
			}
			nextSizes = append(nextSizes, n)
		}
		if err := dag.AddMany(ctx, next); err != nil {
			return cid.Undef, errors.E(op, errors.Internal, err)
		}
		if len(next) == 1 {
			return next[0].Cid(), nil
		}
		level, sizes = next, nextSizes
	}
}

// fileNode returns the UnixFS file node over children of the given sizes.
func fileNode(children []ipld.Node, sizes []uint64, prefix cid.Prefix) (ipld.Node, error) {
	fsn := ft.NewFSNode(ft.TFile)
	nd := new(merkledag.ProtoNode)
	if err := nd.SetCidBuilder(prefix); err != nil {
		return nil, err
	}
	for i, c := range children {
		if err := nd.AddNodeLink("", c); err != nil {
			return nil, err
		}
		fsn.AddBlockSize(sizes[i])
	}
	data, err := fsn.GetBytes()
	if err != nil {
		return nil, err
	}
	nd.SetData(data)
	return nd, nil
}
