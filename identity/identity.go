// Package identity converts Ed25519 identities between libp2p keys and the
// string form used on the wire (hub.PubKey), and persists a host identity.
package identity

import (
	"crypto/rand"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/multiformats/go-multibase"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// New generates a fresh Ed25519 identity.
func New() (crypto.PrivKey, error) {
	const op errors.Op = "identity.New"
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return priv, nil
}

// String returns the wire string of a public key.
func String(pub crypto.PubKey) (hub.PubKey, error) {
	const op errors.Op = "identity.String"
	b, err := crypto.MarshalPublicKey(pub)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	s, err := multibase.Encode(multibase.Base32, b)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return hub.PubKey(s), nil
}

// Parse decodes a wire string into an Ed25519 public key.
func Parse(s hub.PubKey) (crypto.PubKey, error) {
	const op errors.Op = "identity.Parse"
	_, b, err := multibase.Decode(string(s))
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "public key %q is not multibase: %v", errors.Clip(string(s)), err)
	}
	pub, err := crypto.UnmarshalPublicKey(b)
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "public key %q is not a libp2p-marshalled key: %v", errors.Clip(string(s)), err)
	}
	if pub.Type() != crypto.Ed25519 {
		return nil, errors.Errorf(op, errors.Invalid, "public key %q is not Ed25519", errors.Clip(string(s)))
	}
	return pub, nil
}

// FromBytes decodes a libp2p-marshalled public key.
func FromBytes(b []byte) (hub.PubKey, error) {
	const op errors.Op = "identity.FromBytes"
	pub, err := crypto.UnmarshalPublicKey(b)
	if err != nil {
		return "", errors.E(op, errors.Invalid, err)
	}
	return String(pub)
}

// Bytes returns the libp2p-marshalled form of a wire public key string.
func Bytes(s hub.PubKey) ([]byte, error) {
	pub, err := Parse(s)
	if err != nil {
		return nil, err
	}
	return crypto.MarshalPublicKey(pub)
}

// LoadOrCreate reads the private key stored at file, or creates one there
// (mode 0600) when the file does not exist.
func LoadOrCreate(file string) (crypto.PrivKey, error) {
	const op errors.Op = "identity.LoadOrCreate"
	b, err := os.ReadFile(file)
	if err == nil {
		priv, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, errors.Errorf(op, errors.Invalid, "identity file %s is corrupt: %v", file, err)
		}
		return priv, nil
	}
	if !os.IsNotExist(err) {
		return nil, errors.E(op, errors.Internal, err)
	}
	priv, err := New()
	if err != nil {
		return nil, err
	}
	b, err = crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return priv, nil
}
