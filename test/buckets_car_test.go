package test

import (
	"bytes"
	"context"
	"testing"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	mh "github.com/multiformats/go-multihash"

	bucketsclient "github.com/selfhub/hub/client/buckets"
)

// TestImportCARWrongLinkSizes imports, through a real hubd, a CAR whose
// links record sizes other than the true ones (0 for a directory entry,
// 1 for a file's 64 KiB chunk), as the gateway conformance suite's
// inside-root fixture does and kubo accepts. Link sizes are advisory in
// UnixFS: hubd accepts the CAR and links into the bucket the same files
// with true sizes, which its quotas count. The CAR's own blocks are stored
// and served as they are, until a garbage collection, since no bucket
// links them.
func TestImportCARWrongLinkSizes(t *testing.T) {
	w := newGatewayWorld(t)
	chunk := randomData(64 << 10)
	leaf := merkledag.NewRawNode(chunk)
	prefix := cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}
	file := func(claimed uint64) *merkledag.ProtoNode {
		fs := unixfs.NewFSNode(unixfs.TFile)
		fs.AddBlockSize(uint64(len(chunk)))
		data, err := fs.GetBytes()
		if err != nil {
			t.Fatal(err)
		}
		nd := merkledag.NodeWithData(data)
		nd.SetCidBuilder(prefix)
		if err := nd.AddRawLink("", &ipld.Link{Cid: leaf.Cid(), Size: claimed}); err != nil {
			t.Fatal(err)
		}
		return nd
	}
	dir := func(f ipld.Node, claimed uint64) *merkledag.ProtoNode {
		nd := unixfs.EmptyDirNode()
		nd.SetCidBuilder(prefix)
		if err := nd.AddRawLink("f.bin", &ipld.Link{Cid: f.Cid(), Size: claimed}); err != nil {
			t.Fatal(err)
		}
		return nd
	}
	lyingFile, honestFile := file(1), file(uint64(len(chunk)))
	honestSize, err := honestFile.Size()
	if err != nil {
		t.Fatal(err)
	}
	lyingDir, honestDir := dir(lyingFile, 0), dir(honestFile, honestSize)

	var buf bytes.Buffer
	cw, err := storage.NewWritable(&buf, []cid.Cid{lyingDir.Cid()}, car.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range []ipld.Node{lyingDir, lyingFile, leaf} {
		if err := cw.Put(context.Background(), nd.Cid().KeyString(), nd.RawData()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.bc.ImportCAR(w.ctx, w.key, "imported", &buf, bucketsclient.CAROptions{Root: w.root})
	if err != nil {
		t.Fatalf("ImportCAR of a DAG with wrong link sizes: %v", err)
	}
	if res.Cid != honestDir.Cid().String() {
		t.Errorf("linked %s; want the directory with true sizes, %s", res.Cid, honestDir.Cid())
	}
	for name, url := range map[string]string{
		"bucket path":      w.bucketURL("/imported/f.bin"),
		"the CAR's root":   w.base + "/ipfs/" + lyingDir.Cid().String() + "/f.bin",
		"the linked root":  w.base + "/ipfs/" + res.Cid + "/f.bin",
		"the CAR's blocks": w.base + "/ipfs/" + lyingFile.Cid().String(),
	} {
		resp, body := get(t, url)
		if resp.StatusCode != 200 || !bytes.Equal(body, chunk) {
			t.Errorf("%s: status %s, %d bytes; want 200 and the file", name, resp.Status, len(body))
		}
	}
}
