package bucketsclient

import (
	"io"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	ds "github.com/ipfs/go-datastore"

	"github.com/selfhub/hub/errors"
)

// FileCID returns the CID a hub with the default import profile
// (unixfs-v1-2025: CIDv1, raw leaves, 1 MiB chunks, balanced, 1024 links
// per node) gives the bytes r holds, without sending them: so a client
// can tell whether a file it has is the one at a bucket path. Blocks are
// hashed and dropped, so memory does not grow with the size of r. A hub
// configured with another profile gives other CIDs.
func FileCID(r io.Reader) (string, error) {
	const op errors.Op = "bucketsclient.FileCID"
	profile := uio.UnixFS_v1_2025
	discard := merkledag.NewDAGService(blockservice.New(bstore.NewBlockstore(ds.NewNullDatastore()), nil))
	params := helpers.DagBuilderParams{
		Maxlinks:   profile.FileDAGWidth,
		RawLeaves:  profile.RawLeaves,
		CidBuilder: profile.CidBuilder(),
		Dagserv:    discard,
	}
	db, err := params.New(chunker.NewSizeSplitter(r, profile.ChunkSize))
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return nd.Cid().String(), nil
}
