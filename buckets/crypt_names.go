package buckets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"

	"github.com/selfhub/hub/errors"
)

// Entry names in the directories of private buckets are encrypted
// deterministically, so that a path can be looked up by encrypting its
// segments and the existing UnixFS directory code works unchanged: the
// nonce is the first 12 bytes of HMAC-SHA256 of the directory's path and
// the name (a synthetic IV), and the name is sealed with AES-256-GCM under
// it, with the directory's path as associated data. The link name is
//
//	"~" || base32 (lower case, no padding) of nonce (12) || sealed name
//
// Binding the directory's path means equal names in different directories
// give unrelated link names, and an entry moved to another directory by
// someone without the key fails to open. Nothing about a name is revealed
// but its length.
type nameCipher struct {
	mac  []byte
	aead cipher.AEAD
}

// namePrefix marks an encrypted name; a plaintext name could not be
// mistaken for one (see openName).
const namePrefix = "~"

var nameEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const nameNonceSize = 12

func newNameCipher(pathKey []byte) (nameCipher, error) {
	mac, err := hkdf.Key(sha256.New, pathKey, nil, "hub private bucket names mac v1", 32)
	if err != nil {
		return nameCipher{}, err
	}
	k, err := hkdf.Key(sha256.New, pathKey, nil, "hub private bucket names v1", 32)
	if err != nil {
		return nameCipher{}, err
	}
	blk, err := aes.NewCipher(k)
	if err != nil {
		return nameCipher{}, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nameCipher{}, err
	}
	return nameCipher{mac: mac, aead: aead}, nil
}

// seal returns the link name for name in the directory dir (its path from
// the bucket's root).
func (c nameCipher) seal(dir, name string) string {
	h := hmac.New(sha256.New, c.mac)
	h.Write(binary.AppendUvarint(nil, uint64(len(dir))))
	h.Write([]byte(dir))
	h.Write([]byte(name))
	nonce := h.Sum(nil)[:nameNonceSize]
	return namePrefix + nameEncoding.EncodeToString(c.aead.Seal(nonce, nonce, []byte(name), []byte(dir)))
}

// open returns the name behind a link name in directory dir, or an
// Internal error when the link name was not sealed with this key for this
// directory (altered, moved, or another key's).
func (c nameCipher) open(dir, link string) (string, error) {
	const op errors.Op = "buckets.openName"
	raw, err := nameEncoding.DecodeString(strings.TrimPrefix(link, namePrefix))
	if err != nil || !strings.HasPrefix(link, namePrefix) || len(raw) < nameNonceSize+tagSize {
		return "", errors.Errorf(op, errors.DataLoss, "directory entry %q of a private bucket is not an encrypted name; the directory was altered", errors.Clip(link))
	}
	name, err := c.aead.Open(nil, raw[:nameNonceSize], raw[nameNonceSize:], []byte(dir))
	if err != nil {
		return "", errors.E(op, errors.DataLoss, "an encrypted name failed authentication: the directory was altered or the bucket's keys do not match it")
	}
	return string(name), nil
}
