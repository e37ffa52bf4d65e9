package threads

import (
	"bytes"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub/errors"
)

// fuzzKey and fuzzLogKey are fixed so that the committed corpus
// (testdata/fuzz/FuzzDecodeRecord) keeps meaning the same thing.
func fuzzKeys(t testing.TB) (Key, crypto.PrivKey) {
	seed := make([]byte, 64)
	for i := range seed {
		seed[i] = byte(i)
	}
	key, err := KeyFromBytes(seed)
	if err != nil {
		t.Fatal(err)
	}
	logKey, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed[:32]))
	if err != nil {
		t.Fatal(err)
	}
	return key, logKey
}

// FuzzDecodeRecord feeds arbitrary bytes to DecodeRecord twice: as a
// record block received from a peer (its CID computed from the bytes, so
// the check gets past the hash), and as the plaintext inside a record
// sealed with the right service key, so that the parser behind the
// decryption sees them too. DecodeRecord must never panic, must refuse
// with Invalid or Permission, and what it accepts must verify.
func FuzzDecodeRecord(f *testing.F) {
	key, logKey := fuzzKeys(f)
	first, blocks, err := NewRecord(key, logKey, cid.Undef, []byte("first"), time.Unix(0, 1))
	if err != nil {
		f.Fatal(err)
	}
	_, chained, err := NewRecord(key, logKey, first.Cid, []byte("second"), time.Unix(0, 2))
	if err != nil {
		f.Fatal(err)
	}
	for _, blk := range []Block{blocks[0], chained[0]} {
		f.Add(blk.Data)
		ciphertext, _ := unwrap(blk.Data)
		plain, err := key.Service().Decrypt(ciphertext)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(plain)
	}
	f.Add(blocks[1].Data) // an event node
	f.Add([]byte{})
	f.Add([]byte{0xa0})

	f.Fuzz(func(t *testing.T, data []byte) {
		blk, err := newBlock(data)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := DecodeRecord(key, blk)
		checkDecoded(t, blk, rec, err)
		sealed := sealRandom(t, key.Service(), data)
		rec, err = DecodeRecord(key, sealed)
		checkDecoded(t, sealed, rec, err)
	})
}

func checkDecoded(t *testing.T, blk Block, rec Record, err error) {
	if err != nil {
		if k := errors.KindOf(err); k != errors.Invalid && k != errors.Permission {
			t.Fatalf("refused as %v: %v", k, err)
		}
		return
	}
	if !rec.Cid.Equals(blk.Cid) || checkCid(rec.Event) != nil || (rec.Prev.Defined() && checkCid(rec.Prev) != nil) {
		t.Fatalf("accepted a malformed record %+v", rec)
	}
	if !rec.LogID.MatchesPublicKey(rec.PubKey) {
		t.Fatal("log ID does not match the public key")
	}
	if ok, err := rec.PubKey.Verify(signedBytes(rec.Event, rec.Prev), rec.Sig); !ok || err != nil {
		t.Fatal("accepted a record whose signature does not verify")
	}
}
