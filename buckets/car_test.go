package buckets

import (
	"bytes"
	"context"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	ipld "github.com/ipfs/go-ipld-format"
	car "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	mh "github.com/multiformats/go-multihash"

	"github.com/selfhub/hub/errors"
)

// carSource is a UnixFS directory built outside the hub, so a CAR of it
// brings blocks the hub has never seen: dir/{small.txt, big.bin}.
type carSource struct {
	dag   ipld.DAGService
	dir   cid.Cid
	file  cid.Cid // big.bin: several chunks and a root node
	big   []byte
	order []cid.Cid // every block of dir, root first
}

func newCARSource(t *testing.T) carSource {
	t.Helper()
	ctx := context.Background()
	dag := merkledag.NewDAGService(blockservice.New(bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore())), nil))
	src := carSource{dag: dag, big: randomBytes(t, 2<<20+777)}
	small, err := Import(ctx, dag, bytes.NewReader([]byte("hello, car")))
	if err != nil {
		t.Fatal(err)
	}
	big, err := Import(ctx, dag, bytes.NewReader(src.big))
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDir(dag)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AddChild(ctx, "small.txt", small); err != nil {
		t.Fatal(err)
	}
	if err := d.AddChild(ctx, "big.bin", big); err != nil {
		t.Fatal(err)
	}
	nd, err := d.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := dag.Add(ctx, nd); err != nil {
		t.Fatal(err)
	}
	src.dir, src.file = nd.Cid(), big.Cid()
	err = merkledag.Walk(ctx, merkledag.GetLinksWithDAG(dag), nd.Cid(), func(c cid.Cid) bool {
		src.order = append(src.order, c)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// carV1 writes a CARv1 with roots holding the blocks cids, changed by edit
// (when not nil) on their way in.
func (src carSource) carV1(t *testing.T, roots, cids []cid.Cid, edit func(blocks.Block) []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := storage.NewWritable(&buf, roots, car.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cids {
		nd, err := src.dag.Get(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		data := nd.RawData()
		if edit != nil {
			data = edit(nd)
		}
		if err := w.Put(context.Background(), c.KeyString(), data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// carV2 wraps a CARv1 as a CARv2 with an index.
func carV2(t *testing.T, v1 []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := car.WrapV1(bytes.NewReader(v1), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportCAR(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	src := newCARSource(t)
	good := src.carV1(t, []cid.Cid{src.dir}, src.order, nil)

	t.Run("v1 at a path", func(t *testing.T) {
		b := f.create(t, "v1")
		res, err := f.svc.ImportCAR(ctx, f.p, f.thread, b.Key, "imported", b.Path, cid.Undef, bytes.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Cid.Equals(src.dir) || res.Blocks != int64(len(src.order)) || res.Bucket.Path == b.Path {
			t.Fatalf("ImportCAR = %v, %d blocks, root %s; want %s, %d blocks, a new root", res.Cid, res.Blocks, res.Bucket.Path, src.dir, len(src.order))
		}
		it, _, err := f.svc.ListPath(ctx, f.p, f.thread, b.Key, "imported")
		if err != nil || !it.Cid.Equals(src.dir) || it.ItemsCount != 2 {
			t.Fatalf("ListPath(imported) = %+v, %v", it, err)
		}
		var got bytes.Buffer
		if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "imported/big.bin", &got); err != nil || !bytes.Equal(got.Bytes(), src.big) {
			t.Fatalf("PullPath(imported/big.bin): %d bytes, %v; want the %d bytes imported", got.Len(), err, len(src.big))
		}
	})

	t.Run("v2 replaces the root", func(t *testing.T) {
		b := f.create(t, "v2")
		res, err := f.svc.ImportCAR(ctx, f.p, f.thread, b.Key, "", "", cid.Undef, bytes.NewReader(carV2(t, good)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Bucket.Path != "/ipfs/"+src.dir.String() {
			t.Fatalf("bucket root %s; want the CAR's root %s", res.Bucket.Path, src.dir)
		}
	})

	t.Run("named root among several", func(t *testing.T) {
		b := f.create(t, "named")
		two := src.carV1(t, []cid.Cid{src.dir, src.file}, src.order, nil)
		res, err := f.svc.ImportCAR(ctx, f.p, f.thread, b.Key, "big.bin", "", src.file, bytes.NewReader(two))
		if err != nil || !res.Cid.Equals(src.file) {
			t.Fatalf("ImportCAR(car_root=file) = %v, %v", res.Cid, err)
		}
	})

	// A DAG-PB node whose data is not UnixFS, and a dag-cbor block.
	notUnixFS := merkledag.NodeWithData([]byte("not unixfs"))
	notUnixFS.SetCidBuilder(profileOf(src.dag).CidBuilder())
	if err := src.dag.Add(ctx, notUnixFS); err != nil {
		t.Fatal(err)
	}
	cborData := []byte{0xa1, 0x61, 0x61, 0x01} // {"a": 1}
	cborHash, _ := mh.Sum(cborData, mh.SHA2_256, -1)
	cborBlock, _ := blocks.NewBlockWithCid(cborData, cid.NewCidV1(cid.DagCBOR, cborHash))
	var cborCAR bytes.Buffer
	w, err := storage.NewWritable(&cborCAR, []cid.Cid{cborBlock.Cid()}, car.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, cborBlock.Cid().KeyString(), cborData); err != nil {
		t.Fatal(err)
	}

	bad := []struct {
		name    string
		car     []byte
		path    string
		root    func(Bucket) string // the root the caller sends
		carRoot cid.Cid
		kind    errors.Kind
		hint    string
	}{
		{"hash mismatch", src.carV1(t, []cid.Cid{src.dir}, src.order, func(b blocks.Block) []byte {
			if b.Cid().Equals(src.order[len(src.order)-1]) {
				d := bytes.Clone(b.RawData())
				d[0] ^= 0xff
				return d
			}
			return b.RawData()
		}), "x", nil, cid.Undef, errors.Invalid, "does not match its CID"},
		{"truncated", good[:len(good)-100], "x", nil, cid.Undef, errors.Invalid, "ends in the middle of block"},
		{"missing block", src.carV1(t, []cid.Cid{src.dir}, src.order[:len(src.order)-1], nil), "x", nil, cid.Undef, errors.FailedPrecondition, "is incomplete"},
		{"several roots, none named", src.carV1(t, []cid.Cid{src.dir, src.file}, src.order, nil), "x", nil, cid.Undef, errors.Invalid, "name the one to import"},
		{"no roots", src.carV1(t, nil, src.order, nil), "x", nil, cid.Undef, errors.Invalid, "names no root"},
		{"not a CAR", []byte("hello, this is not a car at all"), "x", nil, cid.Undef, errors.Invalid, "not a readable CAR"},
		{"root not UnixFS", src.carV1(t, []cid.Cid{notUnixFS.Cid()}, []cid.Cid{notUnixFS.Cid()}, nil), "x", nil, cid.Undef, errors.Invalid, "not UnixFS"},
		{"dag-cbor block", cborCAR.Bytes(), "x", nil, cid.Undef, errors.Invalid, "may only carry dag-pb and raw"},
		{"file at the root", good, "", nil, src.file, errors.Invalid, "is a file"},
		{"stale root", good, "x", func(b Bucket) string { return "/ipfs/" + src.dir.String() }, cid.Undef, errors.FailedPrecondition, "pull the current state first"},
		{"bad path", good, "../x", nil, cid.Undef, errors.Invalid, ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			// A hub of its own, that holds none of the CAR's blocks.
			f := newFixture(t)
			b := f.create(t, "bad")
			root := b.Path
			if tt.root != nil {
				root = tt.root(b)
			}
			_, err := f.svc.ImportCAR(ctx, f.p, f.thread, b.Key, tt.path, root, tt.carRoot, bytes.NewReader(tt.car))
			if !errors.Is(tt.kind, err) || !bytes.Contains([]byte(errors.Message(err)), []byte(tt.hint)) {
				t.Fatalf("ImportCAR: %v (kind %v); want kind %v saying %q", err, errors.KindOf(err), tt.kind, tt.hint)
			}
			after, err := f.svc.Get(ctx, f.p, f.thread, b.Key)
			if err != nil || after.Path != b.Path {
				t.Fatalf("bucket at %s after a refused import (%v); want it unchanged at %s", after.Path, err, b.Path)
			}
		})
	}

	t.Run("quota", func(t *testing.T) {
		f := newFixtureConfig(t, Config{GatewayURL: "http://127.0.0.1:8006", Quota: 1 << 20})
		b := f.create(t, "small")
		_, err := f.svc.ImportCAR(ctx, f.p, f.thread, b.Key, "x", "", cid.Undef, bytes.NewReader(good))
		if !errors.Is(errors.Exhausted, err) || !bytes.Contains([]byte(errors.Message(err)), []byte("quota")) {
			t.Fatalf("ImportCAR past the quota: %v (kind %v); want Exhausted", err, errors.KindOf(err))
		}
		if after, err := f.svc.Get(ctx, f.p, f.thread, b.Key); err != nil || after.Path != b.Path {
			t.Fatalf("bucket at %s (%v) after a refused import; want %s", after.Path, err, b.Path)
		}
	})

	t.Run("private bucket", func(t *testing.T) {
		b := f.createPrivate(t, "secret")
		_, err := f.svc.ImportCAR(ctx, f.p, f.thread, b.Key, "x", "", cid.Undef, bytes.NewReader(good))
		if !errors.Is(errors.Unimplemented, err) {
			t.Fatalf("ImportCAR into a private bucket: %v; want Unimplemented", err)
		}
	})
}

// BenchmarkImportCAR imports a CARv1 of one 64 MiB file into a bucket
// on the files blockstore hubd uses: the rate of hashing, decoding and
// synced batch writes.
func BenchmarkImportCAR(b *testing.B) {
	ctx := context.Background()
	dag := merkledag.NewDAGService(blockservice.New(bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore())), nil))
	data := randomBytes(b, 64<<20)
	nd, err := Import(ctx, dag, bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := storage.NewWritable(&buf, []cid.Cid{nd.Cid()}, car.WriteAsCarV1(true))
	if err != nil {
		b.Fatal(err)
	}
	err = merkledag.Walk(ctx, merkledag.GetLinksWithDAG(dag), nd.Cid(), func(c cid.Cid) bool {
		blk, err := dag.Get(ctx, c)
		if err == nil {
			err = w.Put(ctx, c.KeyString(), blk.RawData())
		}
		if err != nil {
			b.Fatal(err)
		}
		return true
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := newFixture(b)
		bk := f.create(b, "bench")
		b.StartTimer()
		if _, err := f.svc.ImportCAR(ctx, f.p, f.thread, bk.Key, "big.bin", "", cid.Undef, bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
