package buckets

import (
	"crypto/rand"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mbase "github.com/multiformats/go-multibase"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// ipnsKeyKey is where the private key behind a bucket's IPNS name is kept;
// publish.go signs the name's records with it.
func ipnsKeyKey(key string) []byte { return store.Key(store.BucketKeys, key) }

// NewKey makes a fresh Ed25519 key and returns it with its IPNS name: the
// peer ID as a CIDv1 with the libp2p-key codec, in base36.
func NewKey() (crypto.PrivKey, string, error) {
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, "", err
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		return nil, "", err
	}
	name, err := peer.ToCid(id).StringOfBase(mbase.Base36)
	if err != nil {
		return nil, "", err
	}
	return sk, name, nil
}

// CheckKey reports whether key has the form of a bucket key.
func CheckKey(key string) error {
	const op errors.Op = "buckets.CheckKey"
	if key == "" {
		return errors.E(op, errors.Invalid, "bucket key is empty; give the key that Create or List returned")
	}
	c, err := cid.Decode(key)
	if err != nil || c.Type() != cid.Libp2pKey {
		return errors.Errorf(op, errors.Invalid, "%q is not a bucket key (an IPNS name such as k51…); give the key that Create or List returned", errors.Clip(key))
	}
	return nil
}
