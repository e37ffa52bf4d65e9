package threads

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/libp2p/go-libp2p/core/crypto"
	mh "github.com/multiformats/go-multihash"
)

// link assembles a CID link for qp.MapEntry.
func link(c cid.Cid) qp.Assemble { return qp.Link(cidlink.Link{Cid: c}) }

// TestCBORWriterMatchesDagCBOR: what cborWriter writes for each shape is
// byte for byte what go-ipld-prime's dag-cbor encoder makes of the same
// node, across the length and integer boundaries of CBOR's heads.
func TestCBORWriterMatchesDagCBOR(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	randCid := func() cid.Cid {
		c, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: -1}.Sum(randBytes(8))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	same := func(name string, got []byte, want datamodel.Node) {
		t.Helper()
		w, err := encodeNode(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("%s:\n got %x\nwant %x", name, got, w)
		}
	}
	build := func(n int64, f func(ma datamodel.MapAssembler)) datamodel.Node {
		t.Helper()
		node, err := qp.BuildMap(basicnode.Prototype.Any, n, f)
		if err != nil {
			t.Fatal(err)
		}
		return node
	}

	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536, 100_000} {
		b := randBytes(n)
		blk, err := wrap(b)
		if err != nil {
			t.Fatal(err)
		}
		same("byte string", blk.Data, basicnode.NewBytes(b))
	}
	for _, v := range []int64{0, 1, 23, 24, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -24, -25, -256, -257, -65537, math.MinInt32, math.MinInt64, 1_700_000_000_123_456_789} {
		key := randBytes(KeySize)
		got := cborWriter(nil).mapOf(2).text("key").bytes(key).text("time").int(v)
		same("header", got, build(2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "key", qp.Bytes(key))
			qp.MapEntry(ma, "time", qp.Int(v))
		}))
	}
	body, header := randCid(), randCid()
	same("event", cborWriter(nil).mapOf(2).text("body").link(body).text("header").link(header), build(2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "body", link(body))
		qp.MapEntry(ma, "header", link(header))
	}))
	// Records are compared as NewRecord makes them, first of a log and
	// chained, against the node the same fields build.
	key, logKey := newKey(t), newLogKey(t)
	var prev cid.Cid
	for i := range 3 {
		rec, blocks, err := NewRecord(key, logKey, prev, randBytes(i*100), time.Unix(1_700_000_000, int64(i)))
		if err != nil {
			t.Fatal(err)
		}
		ciphertext, err := unwrap(blocks[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := key.Service().Decrypt(ciphertext)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := crypto.MarshalPublicKey(logKey.GetPublic())
		if err != nil {
			t.Fatal(err)
		}
		same("record", plain, build(4, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "block", link(rec.Event))
			if prev.Defined() {
				qp.MapEntry(ma, "prev", link(prev))
			}
			qp.MapEntry(ma, "pubKey", qp.Bytes(pub))
			qp.MapEntry(ma, "sig", qp.Bytes(rec.Sig))
		}))
		prev = rec.Cid
	}
}
