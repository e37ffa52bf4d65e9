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

	"github.com/selfhub/hub/api/pb/usersdpb"
	bucketsclient "github.com/selfhub/hub/client/buckets"
)

// TestImportCARWrongLinkSizes imports, through a real hubd, a CAR whose
// links record sizes other than the true ones (0 for a directory entry,
// 1 for a file's 64 KiB chunk), as the gateway conformance suite's
// inside-root fixture does and kubo accepts. Link sizes are advisory in
// UnixFS: the bucket links the CAR's root under its own CID, as kubo
// does, serves its files, and charges the bytes its blocks really hold.
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
	lyingFile := file(1)
	lyingDir := dir(lyingFile, 0)

	carOf := func() *bytes.Buffer {
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
		return &buf
	}
	res, err := w.bc.ImportCAR(w.ctx, w.key, "imported", carOf(), bucketsclient.CAROptions{Root: w.root})
	if err != nil {
		t.Fatalf("ImportCAR of a DAG with wrong link sizes: %v", err)
	}
	if res.Cid != lyingDir.Cid().String() {
		t.Errorf("linked %s; want the CAR's root, %s", res.Cid, lyingDir.Cid())
	}
	if it, _, err := w.bc.ListPath(w.ctx, w.key, "imported"); err != nil || it.Cid != lyingDir.Cid().String() {
		t.Errorf("the bucket's imported is %s (%v); want the CAR's root, %s", it.Cid, err, lyingDir.Cid())
	}
	var pulled bytes.Buffer
	if _, err := w.bc.PullPath(w.ctx, w.key, "imported/f.bin", &pulled); err != nil || !bytes.Equal(pulled.Bytes(), chunk) {
		t.Errorf("pull of imported/f.bin: %d bytes (%v); want the file", pulled.Len(), err)
	}
	for name, url := range map[string]string{
		"bucket path":      w.bucketURL("/imported/f.bin"),
		"the CAR's root":   w.base + "/ipfs/" + lyingDir.Cid().String() + "/f.bin",
		"the CAR's blocks": w.base + "/ipfs/" + lyingFile.Cid().String(),
	} {
		resp, body := get(t, url)
		if resp.StatusCode != 200 || !bytes.Equal(body, chunk) {
			t.Errorf("%s: status %s, %d bytes; want 200 and the file", name, resp.Status, len(body))
		}
	}

	// Another account's bucket at the CAR's root is charged its blocks.
	other := newBucketsUser(t, w.h, "carsizes")
	created, err := other.bc.Create(other.ctx, "car", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.bc.ImportCAR(other.ctx, created.Root.Key, "", carOf(), bucketsclient.CAROptions{}); err != nil {
		t.Fatalf("ImportCAR at the root: %v", err)
	}
	res2, err := usersdpb.NewAPIServiceClient(w.h.Conn).GetUsage(other.keyCtx, &usersdpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := int64(len(lyingDir.RawData()) + len(lyingFile.RawData()) + len(chunk))
	claimed, _ := lyingDir.Size()
	if got := res2.Usage.Usage["bucket_data"].GetUnits(); got != want {
		t.Errorf("bucket_data %d; the bucket holds the CAR's blocks, %d bytes (its links claim %d)", got, want, claimed)
	}
}
