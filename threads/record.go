package threads

import (
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
)

// maxRecordSize bounds a record block. A record holds two links, a public
// key and a signature, a few hundred bytes; the bound keeps a hostile peer
// from making us decrypt and parse megabytes to find that out.
const maxRecordSize = 4 << 10

// Record is one entry of a log: it links an event to the previous record of
// the same log and carries the log's signature over both. A Record returned
// by NewRecord, DecodeRecord or the Store has been verified.
type Record struct {
	Cid    cid.Cid       // the record block
	Prev   cid.Cid       // the previous record of the log; cid.Undef for the first
	Event  cid.Cid       // the event node
	LogID  peer.ID       // the log: the peer ID of PubKey
	PubKey crypto.PubKey // the log's Ed25519 public key
	Sig    []byte        // PubKey's signature over Event's bytes || Prev's bytes
}

// NewRecord builds the blocks of one write: an event carrying body, dated
// now, and the record that appends it to logKey's log after prev (cid.Undef
// for a log's first record). The blocks are, in order: record, event,
// header, body. It needs the read key (Permission without it) and an
// Ed25519 log key. The same inputs always give the same blocks: the body
// key and nonces are derived from them and the log key (recordSecrets).
func NewRecord(key Key, logKey crypto.PrivKey, prev cid.Cid, body []byte, now time.Time) (Record, []Block, error) {
	const op errors.Op = "threads.NewRecord"
	if !key.Defined() {
		return Record{}, nil, errors.E(op, errors.Invalid, "thread key is undefined")
	}
	if logKey == nil || logKey.Type() != crypto.Ed25519 {
		return Record{}, nil, errors.E(op, errors.Invalid, "log key must be an Ed25519 private key")
	}
	if prev.Defined() {
		if err := checkCid(prev); err != nil {
			return Record{}, nil, errors.Errorf(op, errors.Invalid, "prev: %v", err)
		}
	}
	secrets, err := newRecordSecrets(key, logKey, prev, body, now)
	if err != nil {
		return Record{}, nil, errors.E(op, errors.Internal, err)
	}
	event, err := newEvent(key, secrets, body, now)
	if err != nil {
		return Record{}, nil, errors.E(op, err)
	}
	rec := Record{Prev: prev, Event: event[0].Cid, PubKey: logKey.GetPublic()}
	if rec.LogID, err = peer.IDFromPublicKey(rec.PubKey); err != nil {
		return Record{}, nil, errors.E(op, errors.Internal, err)
	}
	if rec.Sig, err = logKey.Sign(signedBytes(rec.Event, prev)); err != nil {
		return Record{}, nil, errors.E(op, errors.Internal, err)
	}
	pub, err := crypto.MarshalPublicKey(rec.PubKey)
	if err != nil {
		return Record{}, nil, errors.E(op, errors.Internal, err)
	}
	fields := 3
	if prev.Defined() {
		fields++
	}
	n := cborWriter(nil).mapOf(fields).text("sig").bytes(rec.Sig)
	if prev.Defined() {
		n = n.text("prev").link(prev)
	}
	n = n.text("block").link(rec.Event).text("pubKey").bytes(pub)
	blk, err := seal(key.Service(), secrets.nonces[recordNonce], n)
	if err != nil {
		return Record{}, nil, errors.E(op, errors.Internal, err)
	}
	rec.Cid = blk.Cid
	return rec, append([]Block{blk}, event...), nil
}

// DecodeRecord decrypts a record block with the thread's service key and
// verifies it: the bytes match the CID, the node is well formed, and the
// signature is valid for the public key it carries. Malformed blocks are
// refused as Invalid; a block the key does not open, or whose signature
// does not verify, as Permission. It does not look at the event: a
// replicator can verify records without the read key.
func DecodeRecord(key Key, blk Block) (Record, error) {
	const op errors.Op = "threads.DecodeRecord"
	rec, err := decodeRecord(key, blk)
	if err != nil {
		return Record{}, errors.E(op, err)
	}
	return rec, nil
}

// RecordLinks opens a record block with the thread's service key and
// returns its links, the previous record and the event, without verifying
// the signature: for walking records that were verified when they were
// stored. Errors are those of DecodeRecord.
func RecordLinks(key Key, blk Block) (prev, event cid.Cid, err error) {
	const op errors.Op = "threads.RecordLinks"
	rec, err := openRecord(key, blk)
	if err != nil {
		return cid.Undef, cid.Undef, errors.E(op, err)
	}
	return rec.Prev, rec.Event, nil
}

func decodeRecord(key Key, blk Block) (Record, error) {
	rec, err := openRecord(key, blk)
	if err != nil {
		return Record{}, err
	}
	ok, err := rec.PubKey.Verify(signedBytes(rec.Event, rec.Prev), rec.Sig)
	if err != nil || !ok {
		return Record{}, errors.Errorf("", errors.Permission, "record %s: signature does not verify for log %s", blk.Cid, rec.LogID)
	}
	return rec, nil
}

// openRecord is decodeRecord but for the signature check.
func openRecord(key Key, blk Block) (Record, error) {
	if !key.Defined() {
		return Record{}, errors.E(errors.Invalid, "thread key is undefined")
	}
	if len(blk.Data) > maxRecordSize {
		return Record{}, errors.Errorf("", errors.Invalid, "record %s is %d bytes, more than a record can be (%d)", blk.Cid, len(blk.Data), maxRecordSize)
	}
	if err := CheckBlock(blk.Cid, blk.Data); err != nil {
		return Record{}, errors.Errorf("", errors.Invalid, "record: %v", err)
	}
	ciphertext, err := unwrap(blk.Data)
	if err != nil {
		return Record{}, errors.Errorf("", errors.Invalid, "record %s: %v", blk.Cid, err)
	}
	plain, err := key.Service().Decrypt(ciphertext)
	if err != nil {
		if errors.Is(errors.Permission, err) {
			return Record{}, errors.Errorf("", errors.Permission, "record %s does not open with this thread's service key: it belongs to another thread or was altered", blk.Cid)
		}
		return Record{}, errors.Errorf("", errors.Invalid, "record %s: %v", blk.Cid, errors.Message(err))
	}
	rec, err := parseRecord(plain)
	if err != nil {
		return Record{}, errors.Errorf("", errors.Invalid, "record %s: %v", blk.Cid, err)
	}
	rec.Cid = blk.Cid
	return rec, nil
}

// parseRecord reads the plaintext record node.
func parseRecord(plain []byte) (Record, error) {
	n, err := decodeCanonical(plain, true)
	if err != nil {
		return Record{}, err
	}
	f, err := mapFields(n, []string{"block", "pubKey", "sig"}, "prev")
	if err != nil {
		return Record{}, err
	}
	var rec Record
	if rec.Event, err = linkField(f, "block"); err != nil {
		return Record{}, err
	}
	if _, ok := f["prev"]; ok {
		if rec.Prev, err = linkField(f, "prev"); err != nil {
			return Record{}, err
		}
	}
	pub, err := bytesField(f, "pubKey")
	if err != nil {
		return Record{}, err
	}
	if rec.PubKey, err = crypto.UnmarshalPublicKey(pub); err != nil {
		return Record{}, fmt.Errorf("field \"pubKey\" is not a libp2p public key: %v", err)
	}
	if rec.PubKey.Type() != crypto.Ed25519 {
		return Record{}, fmt.Errorf("field \"pubKey\" is a %s key, want Ed25519", rec.PubKey.Type())
	}
	if rec.LogID, err = peer.IDFromPublicKey(rec.PubKey); err != nil {
		return Record{}, fmt.Errorf("field \"pubKey\": %v", err)
	}
	if rec.Sig, err = bytesField(f, "sig"); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// signedBytes is what a record's signature covers.
func signedBytes(event, prev cid.Cid) []byte {
	b := event.Bytes()
	if prev.Defined() {
		b = append(b, prev.Bytes()...)
	}
	return b
}

// seal encrypts plain with k under nonce and wraps the ciphertext in a
// block.
func seal(k SymKey, nonce [nonceSize]byte, plain []byte) (Block, error) {
	ciphertext, err := k.encrypt(nonce, plain)
	if err != nil {
		return Block{}, err
	}
	return wrap(ciphertext)
}
