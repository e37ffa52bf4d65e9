package threads

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// recordSecrets makes NewRecord a function of its inputs. The body key of
// an event and the nonces of a record's three ciphertexts are derived with
// HKDF-SHA256 from the log's private key, over a digest of everything the
// record is made from (thread key, prev, time, body), instead of being
// drawn at random.
//
// Why: a writer that forms a record, loses it in a crash before it reached
// the disk, and forms it again from the same durable write gets the same
// blocks and CID. A record that anyone saw before the crash is therefore
// the one the log holds after it, and logs never fork by accident.
//
// Safety: the salt covers every input of the record, the thread key
// included, so a nonce repeats under a key only for the same inputs, which
// give the same plaintext and so the same ciphertext (deterministic, like
// AES-GCM-SIV, and no weaker). Two records of one log differ in prev; the
// logs of different writers differ in key; one log key writing to two
// threads meets two thread keys. The derivation needs the log's private
// key, so nothing about the body key can be computed by anyone else.
type recordSecrets struct {
	bodyKey SymKey
	nonces  [3][nonceSize]byte // of the record, the header and the body
}

// The ciphertexts whose nonces recordSecrets derives, indexes of nonces.
const (
	recordNonce = iota
	headerNonce
	bodyNonce
)

// newRecordSecrets derives the secrets of one record of logKey's log in
// the thread whose key is key: one HKDF-SHA256 with the log's private key
// as the secret and a digest of the record's inputs as the salt, read out
// as the body key and the nonces.
func newRecordSecrets(key Key, logKey crypto.PrivKey, prev cid.Cid, body []byte, now time.Time) (recordSecrets, error) {
	raw, err := logKey.Raw()
	if err != nil {
		return recordSecrets{}, err
	}
	h := sha256.New()
	var p []byte
	if prev.Defined() {
		p = prev.Bytes()
	}
	// Each variable-length input is preceded by its length, so no two
	// different input tuples hash the same bytes.
	for _, in := range [][]byte{key.Bytes(), p} {
		h.Write(binary.AppendUvarint(nil, uint64(len(in))))
		h.Write(in)
	}
	h.Write(binary.AppendVarint(nil, now.UnixNano()))
	h.Write(body)
	var s recordSecrets
	out, err := hkdf.Key(sha256.New, raw, h.Sum(nil), "hub threads record v1", KeySize+len(s.nonces)*nonceSize)
	if err != nil {
		return recordSecrets{}, err
	}
	copy(s.bodyKey.b[:], out)
	for i := range s.nonces {
		copy(s.nonces[i][:], out[KeySize+i*nonceSize:])
	}
	return s, nil
}
