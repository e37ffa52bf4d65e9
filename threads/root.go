package threads

import (
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-varint"

	"github.com/selfhub/hub/errors"
)

// An access-controlled thread (variant AccessControlled) names its root
// log in its ID: the 32 bytes after the version and variant are the raw
// Ed25519 public key of the log that created it. The root log may always
// write and manage the thread's access control list, and every peer finds
// it in the ID alone, so no record (which any key holder can make) can
// claim the thread for someone else. A random access-controlled ID names
// a key nobody holds: no one could write to it.

// RootID returns the ID of a new access-controlled thread whose root log
// has the Ed25519 public key root.
func RootID(root crypto.PubKey) (ID, error) {
	const op errors.Op = "threads.RootID"
	if root == nil || root.Type() != crypto.Ed25519 {
		return "", errors.E(op, errors.Invalid, "the root of a thread must be an Ed25519 key")
	}
	raw, err := root.Raw()
	if err != nil {
		return "", errors.E(op, errors.Invalid, err)
	}
	b := varint.ToUvarint(IDVersion)
	b = append(b, varint.ToUvarint(uint64(AccessControlled))...)
	return Cast(append(b, raw...))
}

// RootLog returns the ID of the root log of access-controlled thread id;
// Invalid for a raw thread.
func RootLog(id ID) (peer.ID, error) {
	const op errors.Op = "threads.RootLog"
	if id.Variant() != AccessControlled {
		return "", errors.Errorf(op, errors.Invalid, "thread %s is not access controlled", id)
	}
	b := []byte(id)
	_, n, err := varint.FromUvarint(b)
	if err == nil {
		_, m, e := varint.FromUvarint(b[n:])
		b, err = b[n+m:], e
	}
	if err != nil || len(b) != idRandomSize {
		return "", errors.Errorf(op, errors.Invalid, "thread %s does not hold a root key", id)
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(b)
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "thread %s does not hold a root key: %v", id, err)
	}
	lid, err := peer.IDFromPublicKey(pub)
	if err != nil {
		return "", errors.E(op, errors.Invalid, err)
	}
	return lid, nil
}
