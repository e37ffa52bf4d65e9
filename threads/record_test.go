package threads

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/libp2p/go-libp2p/core/crypto"
	mh "github.com/multiformats/go-multihash"

	"github.com/selfhub/hub/errors"
)

func newLogKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t testing.TB) Key {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// getter serves blocks from a map, as a blockstore or a peer would.
func getter(blocks ...Block) func(cid.Cid) ([]byte, error) {
	const op errors.Op = "test.get"
	m := make(map[cid.Cid][]byte)
	for _, b := range blocks {
		m[b.Cid] = b.Data
	}
	return func(c cid.Cid) ([]byte, error) {
		if d, ok := m[c]; ok {
			return d, nil
		}
		return nil, errors.Errorf(op, errors.NotExist, "no block %s", c)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	key := newKey(t)
	logKey := newLogKey(t)
	now := time.Unix(1700000000, 123456789)
	var prev cid.Cid
	for i, body := range [][]byte{[]byte(`{"_id":"1"}`), {}, bytes.Repeat([]byte{0xab}, 100_000)} {
		rec, blocks, err := NewRecord(key, logKey, prev, body, now.Add(time.Duration(i)))
		if err != nil {
			t.Fatal(err)
		}
		if len(blocks) != 4 || !blocks[0].Cid.Equals(rec.Cid) || !blocks[1].Cid.Equals(rec.Event) {
			t.Fatalf("blocks are not record, event, header, body")
		}
		for _, b := range blocks {
			if err := CheckBlock(b.Cid, b.Data); err != nil {
				t.Fatal(err)
			}
		}
		got, err := DecodeRecord(key, blocks[0])
		if err != nil {
			t.Fatal(err)
		}
		if !got.Cid.Equals(rec.Cid) || !got.Prev.Equals(prev) || !got.Event.Equals(rec.Event) ||
			got.LogID != rec.LogID || !got.PubKey.Equals(logKey.GetPublic()) || !bytes.Equal(got.Sig, rec.Sig) {
			t.Fatalf("decoded %+v\nmade %+v", got, rec)
		}
		ev, err := OpenEvent(key, got, getter(blocks...))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ev.Body, body) || !ev.Time.Equal(now.Add(time.Duration(i))) {
			t.Fatalf("event %v %d bytes", ev.Time, len(ev.Body))
		}
		prev = rec.Cid
	}
}

// sameService returns a thread key with key's service key and another
// read key: the record envelopes of both are sealed under one key.
func sameService(t *testing.T, key Key) Key {
	t.Helper()
	other := newKey(t)
	rk, _ := other.Read()
	k, err := KeyFromBytes(append(key.Service().Bytes(), rk.Bytes()...))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestNewRecordIsDeterministic: a record formed again from the same write
// (after a crash lost the first) is the same record, while any change of
// input, the log key included, gives other blocks and other nonces.
func TestNewRecordIsDeterministic(t *testing.T) {
	key := newKey(t)
	logKey, otherLog := newLogKey(t), newLogKey(t)
	now := time.Unix(1700000000, 1)
	first, _, err := NewRecord(key, logKey, cid.Undef, []byte("first"), now)
	if err != nil {
		t.Fatal(err)
	}
	type input struct {
		key    Key
		logKey crypto.PrivKey
		prev   cid.Cid
		body   string
		now    time.Time
	}
	base := input{key, logKey, first.Cid, "body", now}
	form := func(in input) []Block {
		_, blocks, err := NewRecord(in.key, in.logKey, in.prev, []byte(in.body), in.now)
		if err != nil {
			t.Fatal(err)
		}
		return blocks
	}
	again := form(base)
	for i, b := range form(base) {
		if !b.Cid.Equals(again[i].Cid) || !bytes.Equal(b.Data, again[i].Data) {
			t.Fatalf("block %d differs between two formings of the same record", i)
		}
	}
	nonces := map[string]bool{}
	for _, b := range again {
		nonces[string(b.Data[:nonceSize])] = true
	}
	for name, in := range map[string]input{
		"other thread key": {sameService(t, key), base.logKey, base.prev, base.body, base.now},
		"other log key":    {key, otherLog, base.prev, base.body, base.now},
		"other prev":       {key, base.logKey, cid.Undef, base.body, base.now},
		"other body":       {key, base.logKey, base.prev, "bodY", base.now},
		"other time":       {key, base.logKey, base.prev, base.body, base.now.Add(time.Nanosecond)},
	} {
		for i, b := range form(in) {
			if i == 1 {
				continue // the event node is plaintext links, no nonce
			}
			if nonces[string(b.Data[:nonceSize])] {
				t.Errorf("%s: block %d reuses a nonce of the base record", name, i)
			}
		}
	}
}

func TestNewRecordRefuses(t *testing.T) {
	key := newKey(t)
	secp, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	rawCid, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: 32}.Sum([]byte("x"))
	for _, tc := range []struct {
		name   string
		key    Key
		logKey crypto.PrivKey
		prev   cid.Cid
		body   []byte
		kind   errors.Kind
		why    string
	}{
		{"service key only", key.ServiceOnly(), newLogKey(t), cid.Undef, nil, errors.Permission, "needs the read key"},
		{"undefined key", Key{}, newLogKey(t), cid.Undef, nil, errors.Invalid, "undefined"},
		{"secp256k1 log key", key, secp, cid.Undef, nil, errors.Invalid, "Ed25519"},
		{"raw prev", key, newLogKey(t), rawCid, nil, errors.Invalid, "not CIDv1 dag-cbor"},
		{"body too big", key, newLogKey(t), cid.Undef, make([]byte, MaxBodySize+1), errors.Invalid, "more than the"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := NewRecord(tc.key, tc.logKey, tc.prev, tc.body, time.Now())
			check(t, err, tc.kind, tc.why)
		})
	}
}

// recordNode seals a hand-made record node, for records NewRecord would
// never make.
func recordNode(t *testing.T, k SymKey, fields map[string]qp.Assemble) Block {
	t.Helper()
	n, err := qp.BuildMap(basicnode.Prototype.Any, int64(len(fields)), func(ma datamodel.MapAssembler) {
		for name, v := range fields {
			qp.MapEntry(ma, name, v)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := encodeNode(n)
	if err != nil {
		t.Fatal(err)
	}
	return sealRandom(t, k, plain)
}

// sealRandom encrypts plain with k under a random nonce, as a writer on
// another peer may, and wraps the ciphertext in a block.
func sealRandom(t testing.TB, k SymKey, plain []byte) Block {
	t.Helper()
	ciphertext, err := k.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := wrap(ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	return blk
}

func TestDecodeRecordRefuses(t *testing.T) {
	key := newKey(t)
	sk := key.Service()
	logKey, otherLog := newLogKey(t), newLogKey(t)
	rec, blocks, err := NewRecord(key, logKey, cid.Undef, []byte("body"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	good := blocks[0]
	pub, _ := crypto.MarshalPublicKey(logKey.GetPublic())
	otherPub, _ := crypto.MarshalPublicKey(otherLog.GetPublic())
	secp, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	secpPub, _ := crypto.MarshalPublicKey(secp.GetPublic())
	otherSig, _ := otherLog.Sign(signedBytes(rec.Event, cid.Undef))
	rawCid, _ := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: 32}.Sum([]byte("x"))
	// fields returns the good record's fields with some replaced (nil removes).
	fields := func(change map[string]qp.Assemble) map[string]qp.Assemble {
		f := map[string]qp.Assemble{"block": link(rec.Event), "pubKey": qp.Bytes(pub), "sig": qp.Bytes(rec.Sig)}
		for k, v := range change {
			if v == nil {
				delete(f, k)
			} else {
				f[k] = v
			}
		}
		return f
	}
	flip := func(data []byte, i int) []byte { d := bytes.Clone(data); d[i] ^= 1; return d }
	block := func(data []byte) Block { b, _ := newBlock(data); return b }
	sealRaw := func(plain []byte) Block { return sealRandom(t, sk, plain) }
	other := newKey(t)

	for _, tc := range []struct {
		name string
		key  Key
		blk  Block
		kind errors.Kind
		why  string
	}{
		{"bytes changed, CID kept", key, Block{good.Cid, flip(good.Data, 10)}, errors.Invalid, "bytes hash to"},
		{"ciphertext changed, CID recomputed", key, block(flip(good.Data, len(good.Data)-1)), errors.Permission, "does not open with this thread's service key"},
		{"another thread's service key", other, good, errors.Permission, "does not open"},
		{"replicator's key of another thread", other.ServiceOnly(), good, errors.Permission, "does not open"},
		{"signed by another log key", key, recordNode(t, sk, fields(map[string]qp.Assemble{"sig": qp.Bytes(otherSig)})), errors.Permission, "signature does not verify"},
		{"prev added after signing", key, recordNode(t, sk, fields(map[string]qp.Assemble{"prev": link(blocks[2].Cid)})), errors.Permission, "signature does not verify"},
		{"event changed after signing", key, recordNode(t, sk, fields(map[string]qp.Assemble{"block": link(blocks[2].Cid)})), errors.Permission, "signature does not verify"},
		{"public key swapped", key, recordNode(t, sk, fields(map[string]qp.Assemble{"pubKey": qp.Bytes(otherPub)})), errors.Permission, "signature does not verify"},
		{"signature truncated", key, recordNode(t, sk, fields(map[string]qp.Assemble{"sig": qp.Bytes(rec.Sig[:10])})), errors.Permission, "signature does not verify"},
		{"unknown field", key, recordNode(t, sk, fields(map[string]qp.Assemble{"extra": qp.Int(1)})), errors.Invalid, `unknown field "extra"`},
		{"no signature", key, recordNode(t, sk, fields(map[string]qp.Assemble{"sig": nil})), errors.Invalid, `field "sig" is missing`},
		{"no event", key, recordNode(t, sk, fields(map[string]qp.Assemble{"block": nil})), errors.Invalid, `field "block" is missing`},
		{"event is not a link", key, recordNode(t, sk, fields(map[string]qp.Assemble{"block": qp.String("x")})), errors.Invalid, "want a link"},
		{"prev is raw", key, recordNode(t, sk, fields(map[string]qp.Assemble{"prev": link(rawCid)})), errors.Invalid, "not CIDv1 dag-cbor sha2-256"},
		{"signature is a string", key, recordNode(t, sk, fields(map[string]qp.Assemble{"sig": qp.String("x")})), errors.Invalid, "want bytes"},
		{"secp256k1 public key", key, recordNode(t, sk, fields(map[string]qp.Assemble{"pubKey": qp.Bytes(secpPub)})), errors.Invalid, "want Ed25519"},
		{"garbage public key", key, recordNode(t, sk, fields(map[string]qp.Assemble{"pubKey": qp.Bytes([]byte("junk"))})), errors.Invalid, "not a libp2p public key"},
		{"not canonical", key, sealRaw(unsorted(t, rec, pub)), errors.Invalid, "not canonical"},
		{"plaintext not cbor", key, sealRaw([]byte{0xff, 0x00}), errors.Invalid, "not dag-cbor"},
		{"plaintext a list", key, sealRaw([]byte{0x80}), errors.Invalid, "want a map"},
		{"not encrypted", key, block(mustEncode(t, basicnode.NewString("hello"))), errors.Invalid, "want bytes"},
		{"ciphertext too short", key, block(mustEncode(t, basicnode.NewBytes(make([]byte, 20)))), errors.Invalid, "shorter than nonce and tag"},
		{"trailing bytes", key, block(append(bytes.Clone(good.Data), 0)), errors.Invalid, "not dag-cbor"},
		{"raw CID", key, Block{rawCid, []byte("x")}, errors.Invalid, "not CIDv1 dag-cbor"},
		{"undefined CID", key, Block{cid.Undef, good.Data}, errors.Invalid, "undefined"},
		{"too big", key, block(mustEncode(t, basicnode.NewBytes(make([]byte, maxRecordSize)))), errors.Invalid, "more than a record can be"},
		{"undefined key", Key{}, good, errors.Invalid, "undefined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord(tc.key, tc.blk)
			check(t, err, tc.kind, tc.why)
		})
	}
	if _, err := DecodeRecord(key, good); err != nil {
		t.Fatalf("the untouched record: %v", err)
	}
}

// unsorted encodes the record's fields in a non-canonical key order.
func unsorted(t *testing.T, rec Record, pub []byte) []byte {
	n, _ := qp.BuildMap(basicnode.Prototype.Any, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "sig", qp.Bytes(rec.Sig))
		qp.MapEntry(ma, "pubKey", qp.Bytes(pub))
		qp.MapEntry(ma, "block", link(rec.Event))
	})
	var buf bytes.Buffer
	if err := (dagcbor.EncodeOptions{AllowLinks: true, MapSortMode: codec.MapSortMode_None}).Encode(n, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustEncode(t *testing.T, n datamodel.Node) []byte {
	t.Helper()
	b, err := encodeNode(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenEventRefuses(t *testing.T) {
	key := newKey(t)
	rec, blocks, err := NewRecord(key, newLogKey(t), cid.Undef, []byte("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := NewRecord(key, newLogKey(t), cid.Undef, []byte("other"), time.Now())
	// sameService has this thread's service key but another read key.
	sameService, _ := KeyFromBytes(append(key.Service().Bytes(), newKey(t).Bytes()[32:]...))
	// crossed is an event whose header is another event's: the body key
	// it holds does not open this body.
	crossed := eventNode(t, map[string]qp.Assemble{"header": link(other[2].Cid), "body": link(blocks[3].Cid)})
	extra := eventNode(t, map[string]qp.Assemble{"header": link(blocks[2].Cid), "body": link(blocks[3].Cid), "x": qp.Int(1)})
	all := append(append([]Block{crossed, extra}, blocks...), other...)

	for _, tc := range []struct {
		name  string
		key   Key
		event cid.Cid
		get   func(cid.Cid) ([]byte, error)
		kind  errors.Kind
		why   string
	}{
		{"replicator", key.ServiceOnly(), rec.Event, getter(all...), errors.Permission, "opening events needs the read key"},
		{"another read key", sameService, rec.Event, getter(all...), errors.Permission, "does not open with this thread's read key"},
		{"header of another event", key, crossed.Cid, getter(all...), errors.Permission, "does not open with its header's key"},
		{"unknown field in event", key, extra.Cid, getter(all...), errors.Invalid, `unknown field "x"`},
		{"body missing", key, rec.Event, getter(blocks[:3]...), errors.NotExist, "no block " + blocks[3].Cid.String()},
		{"getter lies", key, rec.Event, func(c cid.Cid) ([]byte, error) {
			if c.Equals(blocks[3].Cid) {
				return other[3].Data, nil
			}
			return getter(blocks...)(c)
		}, errors.Invalid, "bytes hash to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenEvent(tc.key, Record{Event: tc.event}, tc.get)
			check(t, err, tc.kind, tc.why)
		})
	}
}

func eventNode(t *testing.T, fields map[string]qp.Assemble) Block {
	t.Helper()
	n, err := qp.BuildMap(basicnode.Prototype.Any, int64(len(fields)), func(ma datamodel.MapAssembler) {
		for name, v := range fields {
			qp.MapEntry(ma, name, v)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBlock(mustEncode(t, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplicator checks what a peer holding only the service key can do:
// decode and verify records, not open their events.
func TestReplicator(t *testing.T) {
	key := newKey(t)
	rec, blocks, err := NewRecord(key, newLogKey(t), cid.Undef, []byte("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	replica := key.ServiceOnly()
	got, err := DecodeRecord(replica, blocks[0])
	if err != nil || !got.Event.Equals(rec.Event) {
		t.Fatalf("replicator cannot decode: %v", err)
	}
	_, err = OpenEvent(replica, got, getter(blocks...))
	check(t, err, errors.Permission, "thread key holds only the service key")
	for _, b := range blocks {
		if bytes.Contains(b.Data, []byte("secret")) {
			t.Fatalf("block %s holds the plaintext", b.Cid)
		}
	}
}
