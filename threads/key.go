package threads

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"

	"github.com/multiformats/go-multibase"

	"github.com/selfhub/hub/errors"
)

// KeySize is the size of a SymKey: AES-256.
const KeySize = 32

// nonceSize is the AES-GCM nonce that prefixes every ciphertext.
const nonceSize = 12

// SymKey is an AES-256-GCM key. The zero SymKey is not a usable key.
type SymKey struct {
	b [KeySize]byte
}

// NewSymKey returns a fresh random key.
func NewSymKey() (SymKey, error) {
	const op errors.Op = "threads.NewSymKey"
	var k SymKey
	if _, err := rand.Read(k.b[:]); err != nil {
		return SymKey{}, errors.E(op, errors.Internal, err)
	}
	return k, nil
}

// SymKeyFromBytes returns the key whose raw bytes are b (32 bytes).
func SymKeyFromBytes(b []byte) (SymKey, error) {
	const op errors.Op = "threads.SymKeyFromBytes"
	var k SymKey
	if len(b) != KeySize {
		return k, errors.Errorf(op, errors.Invalid, "symmetric key is %d bytes, want %d", len(b), KeySize)
	}
	copy(k.b[:], b)
	return k, nil
}

// Bytes returns a copy of the raw key.
func (k SymKey) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// Encrypt seals plain with a fresh random nonce and returns
// nonce(12) || sealed (ciphertext and 16-byte tag).
func (k SymKey) Encrypt(plain []byte) ([]byte, error) {
	const op errors.Op = "threads.SymKey.Encrypt"
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return k.encrypt(nonce, plain)
}

// encrypt is Encrypt with the nonce given. The caller guarantees that it
// never seals a different plaintext under k with the same nonce.
func (k SymKey) encrypt(nonce [nonceSize]byte, plain []byte) ([]byte, error) {
	const op errors.Op = "threads.SymKey.Encrypt"
	aead, err := k.aead()
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	out := make([]byte, nonceSize, nonceSize+len(plain)+aead.Overhead())
	copy(out, nonce[:])
	return aead.Seal(out, out, plain, nil), nil
}

// Decrypt opens ciphertext made by Encrypt. It fails with Permission when
// the key is not the one it was sealed with or the bytes were altered (GCM
// cannot tell the two apart), and with Invalid when it is too short to be
// a ciphertext.
func (k SymKey) Decrypt(ciphertext []byte) ([]byte, error) {
	const op errors.Op = "threads.SymKey.Decrypt"
	aead, err := k.aead()
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	if len(ciphertext) < nonceSize+aead.Overhead() {
		return nil, errors.Errorf(op, errors.Invalid, "ciphertext is %d bytes, shorter than nonce and tag (%d)", len(ciphertext), nonceSize+aead.Overhead())
	}
	plain, err := aead.Open(nil, ciphertext[:nonceSize], ciphertext[nonceSize:], nil)
	if err != nil {
		return nil, errors.E(op, errors.Permission, "cannot decrypt: wrong key, or the ciphertext was altered")
	}
	return plain, nil
}

func (k SymKey) aead() (cipher.AEAD, error) {
	c, err := aes.NewCipher(k.b[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(c)
}

// Key is a thread's key: the service key, which encrypts records so that
// only members and replicators can see the logs, and, when held, the read
// key, which encrypts event headers so that only readers can see content.
// Its byte form is service || read (64 bytes), or the service key alone (32
// bytes) for a replicator. The zero Key is undefined.
type Key struct {
	service SymKey
	read    SymKey
	defined bool
	canRead bool
}

// NewKey returns a fresh key with both a service and a read key: what the
// creator of a thread holds.
func NewKey() (Key, error) {
	sk, err := NewSymKey()
	if err != nil {
		return Key{}, err
	}
	rk, err := NewSymKey()
	if err != nil {
		return Key{}, err
	}
	return Key{service: sk, read: rk, defined: true, canRead: true}, nil
}

// NewServiceKey returns a fresh key with a service key only.
func NewServiceKey() (Key, error) {
	sk, err := NewSymKey()
	if err != nil {
		return Key{}, err
	}
	return Key{service: sk, defined: true}, nil
}

// KeyFromBytes parses the byte form of a key: 64 bytes (service and read)
// or 32 (service only).
func KeyFromBytes(b []byte) (Key, error) {
	const op errors.Op = "threads.KeyFromBytes"
	switch len(b) {
	case KeySize:
		sk, _ := SymKeyFromBytes(b)
		return Key{service: sk, defined: true}, nil
	case 2 * KeySize:
		sk, _ := SymKeyFromBytes(b[:KeySize])
		rk, _ := SymKeyFromBytes(b[KeySize:])
		return Key{service: sk, read: rk, defined: true, canRead: true}, nil
	}
	return Key{}, errors.Errorf(op, errors.Invalid, "thread key is %d bytes, want 64 (service and read key) or 32 (service key only)", len(b))
}

// KeyFromString parses the string form of a key. Any multibase encoding is
// accepted; String produces base32.
func KeyFromString(s string) (Key, error) {
	const op errors.Op = "threads.KeyFromString"
	if s == "" {
		return Key{}, errors.E(op, errors.Invalid, "thread key is empty")
	}
	_, b, err := multibase.Decode(s)
	if err != nil {
		// The key is secret: say what is wrong without echoing it.
		return Key{}, errors.Errorf(op, errors.Invalid, "thread key is not a multibase string: %v", err)
	}
	k, err := KeyFromBytes(b)
	if err != nil {
		return Key{}, errors.E(op, err)
	}
	return k, nil
}

// Defined reports whether k holds a key at all.
func (k Key) Defined() bool { return k.defined }

// CanRead reports whether k holds the read key.
func (k Key) CanRead() bool { return k.canRead }

// Service returns the service key.
func (k Key) Service() SymKey { return k.service }

// Read returns the read key, and false when k holds only the service key.
func (k Key) Read() (SymKey, bool) { return k.read, k.canRead }

// ServiceOnly returns k without its read key: what a replicator is given.
func (k Key) ServiceOnly() Key { return Key{service: k.service, defined: k.defined} }

// Bytes returns the byte form of k: service || read, or service alone.
func (k Key) Bytes() []byte {
	if !k.defined {
		return nil
	}
	b := k.service.Bytes()
	if k.canRead {
		b = append(b, k.read.b[:]...)
	}
	return b
}

// String returns the multibase base32 form of k (what the JavaScript
// ThreadKey.toString produces), or "" for the undefined key.
func (k Key) String() string {
	if !k.defined {
		return ""
	}
	s, _ := multibase.Encode(multibase.Base32, k.Bytes()) // cannot fail for a known base
	return s
}
