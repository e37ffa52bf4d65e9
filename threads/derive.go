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
// record is made from (prev, time, body), instead of being drawn at random.
//
// Why: a writer that forms a record, loses it in a crash before it reached
// the disk, and forms it again from the same durable write gets the same
// blocks and CID. A record that anyone saw before the crash is therefore
// the one the log holds after it, and logs never fork by accident.
//
// Safety: a nonce repeats under a key only for the same log key and the
// same inputs, that is for the same plaintext, which yields the same
// ciphertext (deterministic, like AES-GCM-SIV, and no weaker). Two records
// of one log differ in prev; the logs of different writers differ in key.
// The derivation needs the log's private key, so nothing about the body
// key can be computed by anyone else.
type recordSecrets struct {
	ikm    []byte // the log's private key
	digest []byte // SHA-256 of the record's inputs: the HKDF salt
}

// newRecordSecrets digests the inputs of one record of logKey's log.
func newRecordSecrets(logKey crypto.PrivKey, prev cid.Cid, body []byte, now time.Time) (recordSecrets, error) {
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
	h.Write(binary.AppendUvarint(nil, uint64(len(p))))
	h.Write(p)
	h.Write(binary.AppendVarint(nil, now.UnixNano()))
	h.Write(body)
	return recordSecrets{ikm: raw, digest: h.Sum(nil)}, nil
}

// derive returns n bytes for the use named by label.
func (s recordSecrets) derive(label string, n int) ([]byte, error) {
	return hkdf.Key(sha256.New, s.ikm, s.digest, "hub threads record v1: "+label, n)
}

// bodyKey is the event's body key.
func (s recordSecrets) bodyKey() (SymKey, error) {
	b, err := s.derive("body key", KeySize)
	if err != nil {
		return SymKey{}, err
	}
	return SymKeyFromBytes(b)
}

// nonce is the nonce of the ciphertext named by label.
func (s recordSecrets) nonce(label string) ([nonceSize]byte, error) {
	var n [nonceSize]byte
	b, err := s.derive(label+" nonce", nonceSize)
	copy(n[:], b)
	return n, err
}
