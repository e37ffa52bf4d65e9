package bucketstest

import (
	"bytes"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	chunker "github.com/ipfs/boxo/chunker"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	mh "github.com/multiformats/go-multihash"
)

// ReferenceCID is the CID boxo's importer gives data with the
// unixfs-v1-2025 settings spelled out here (1 MiB chunks, raw leaves,
// 1024 links a node, CIDv1 with SHA2-256), not taken from the buckets
// package: an independent check that a hub imports files as kubo would.
func ReferenceCID(t testing.TB, data []byte) string {
	t.Helper()
	dag := merkledag.NewDAGService(blockservice.New(bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore())), nil))
	p := helpers.DagBuilderParams{Maxlinks: 1024, RawLeaves: true, Dagserv: dag,
		CidBuilder: cid.V1Builder{Codec: cid.DagProtobuf, MhType: mh.SHA2_256}}
	db, err := p.New(chunker.NewSizeSplitter(bytes.NewReader(data), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	nd, err := balanced.Layout(db)
	if err != nil {
		t.Fatal(err)
	}
	return nd.Cid().String()
}
