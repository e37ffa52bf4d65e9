package test

import (
	"bytes"
	"context"
	"strings"
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
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
)

// lyingFile is a UnixFS file of leaf's bytes copies times over whose links
// each claim the leaf holds claimed bytes; lyingDir is a directory of it
// as f.bin whose link claims claimed bytes. Some tools write such sizes
// (the gateway conformance suite's inside-root fixture does).
func lyingFile(t *testing.T, leaf ipld.Node, copies int, claimed uint64) *merkledag.ProtoNode {
	t.Helper()
	fs := unixfs.NewFSNode(unixfs.TFile)
	for range copies {
		fs.AddBlockSize(uint64(len(leaf.RawData())))
	}
	data, err := fs.GetBytes()
	if err != nil {
		t.Fatal(err)
	}
	nd := merkledag.NodeWithData(data)
	nd.SetCidBuilder(lyingPrefix)
	for range copies {
		if err := nd.AddRawLink("", &ipld.Link{Cid: leaf.Cid(), Size: claimed}); err != nil {
			t.Fatal(err)
		}
	}
	return nd
}

func lyingDir(t *testing.T, f ipld.Node, claimed uint64) *merkledag.ProtoNode {
	t.Helper()
	nd := unixfs.EmptyDirNode()
	nd.SetCidBuilder(lyingPrefix)
	if err := nd.AddRawLink("f.bin", &ipld.Link{Cid: f.Cid(), Size: claimed}); err != nil {
		t.Fatal(err)
	}
	return nd
}

var lyingPrefix = cid.Prefix{Version: 1, Codec: cid.DagProtobuf, MhType: mh.SHA2_256, MhLength: -1}

// carOf is a CARv1 of nodes whose root is the first.
func carOf(t *testing.T, nodes ...ipld.Node) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	cw, err := storage.NewWritable(&buf, []cid.Cid{nodes[0].Cid()}, car.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, nd := range nodes {
		if err := cw.Put(context.Background(), nd.Cid().KeyString(), nd.RawData()); err != nil {
			t.Fatal(err)
		}
	}
	return &buf
}

// bucketData is the bucket_data figure GetUsage reports for the account
// w's key is of.
func bucketData(t *testing.T, w bucketsWorld) int64 {
	t.Helper()
	res, err := usersdpb.NewAPIServiceClient(w.h.Conn).GetUsage(w.keyCtx, &usersdpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Usage.Usage["bucket_data"].GetUnits()
}

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
	file := lyingFile(t, leaf, 1, 1)
	dir := lyingDir(t, file, 0)
	res, err := w.bc.ImportCAR(w.ctx, w.key, "imported", carOf(t, dir, file, leaf), bucketsclient.CAROptions{Root: w.root})
	if err != nil {
		t.Fatalf("ImportCAR of a DAG with wrong link sizes: %v", err)
	}
	if res.Cid != dir.Cid().String() {
		t.Errorf("linked %s; want the CAR's root, %s", res.Cid, dir.Cid())
	}
	if it, _, err := w.bc.ListPath(w.ctx, w.key, "imported"); err != nil || it.Cid != dir.Cid().String() {
		t.Errorf("the bucket's imported is %s (%v); want the CAR's root, %s", it.Cid, err, dir.Cid())
	}
	var pulled bytes.Buffer
	if _, err := w.bc.PullPath(w.ctx, w.key, "imported/f.bin", &pulled); err != nil || !bytes.Equal(pulled.Bytes(), chunk) {
		t.Errorf("pull of imported/f.bin: %d bytes (%v); want the file", pulled.Len(), err)
	}
	for name, url := range map[string]string{
		"bucket path":      w.bucketURL("/imported/f.bin"),
		"the CAR's root":   w.base + "/ipfs/" + dir.Cid().String() + "/f.bin",
		"the CAR's blocks": w.base + "/ipfs/" + file.Cid().String(),
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
	if _, err := other.bc.ImportCAR(other.ctx, created.Root.Key, "", carOf(t, dir, file, leaf), bucketsclient.CAROptions{}); err != nil {
		t.Fatalf("ImportCAR at the root: %v", err)
	}
	want := int64(len(dir.RawData()) + len(file.RawData()) + len(chunk))
	claimed, _ := dir.Size()
	if got := bucketData(t, other); got != want {
		t.Errorf("bucket_data %d; the bucket holds the CAR's blocks, %d bytes (its links claim %d)", got, want, claimed)
	}
}

// TestImportCARQuotaCountsRealBytes runs a hub with a 256 KiB quota: one
// account pushes a 200 KiB file, and another imports a CAR of two small
// blocks, a file of that file's block twice over whose links claim a
// byte each, in a directory. The CAR is a few hundred bytes and its links
// claim a few more; the DAG holds 400 KiB, so the import is refused with
// ResourceExhausted and changes nothing.
func TestImportCARQuotaCountsRealBytes(t *testing.T) {
	h := testhub.Start(t, func(c *daemon.Config) { c.BucketQuota = 256 << 10 })
	chunk := randomData(200 << 10)
	leaf := merkledag.NewRawNode(chunk)
	pusher := newBucketsUser(t, h, "pusher")
	b, err := pusher.bc.Create(pusher.ctx, "chunk", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := pusher.bc.PushPath(pusher.ctx, b.Root.Key, "chunk.bin", bytes.NewReader(chunk), "")
	if err != nil {
		t.Fatal(err)
	}
	if pushed.Cid != leaf.Cid().String() {
		t.Fatalf("the pushed file is %s, not its one raw block %s; the test needs the hub to hold that block", pushed.Cid, leaf.Cid())
	}

	file := lyingFile(t, leaf, 2, 1)
	dir := lyingDir(t, file, 0)
	importer := newBucketsUser(t, h, "importer")
	made, err := importer.bc.Create(importer.ctx, "car", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := bucketData(t, importer)
	_, err = importer.bc.ImportCAR(importer.ctx, made.Root.Key, "big", carOf(t, dir, file), bucketsclient.CAROptions{})
	if !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("ImportCAR of 400 KiB whose links claim bytes, past a 256 KiB quota: %v; want ResourceExhausted naming the quota", err)
	}
	if root, err := importer.bc.Root(importer.ctx, made.Root.Key); err != nil || root.Path != made.Root.Path {
		t.Fatalf("the refused import moved the root to %s (%v)", root.Path, err)
	}
	if got := bucketData(t, importer); got != before {
		t.Fatalf("bucket_data %d after the refused import; want %d", got, before)
	}
}
