package threads

import (
	"crypto/rand"

	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-varint"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// ID identifies a thread: the root package's ThreadID, whose methods give
// its parts and string form and check its layout. This package makes and
// parses IDs.
type ID = hub.ThreadID

// Variant says what kind of thread an ID names.
type Variant = hub.ThreadVariant

// Thread variants; the values are the go-threads and @textile/threads-id
// codes.
const (
	Raw              = hub.RawThread
	AccessControlled = hub.AccessControlledThread
)

// IDVersion is the only version of thread IDs.
const IDVersion = hub.ThreadIDVersion

// idRandomSize is how many random bytes NewID draws.
const idRandomSize = 32

// NewID returns a new random ID of variant v.
func NewID(v Variant) (ID, error) {
	const op errors.Op = "threads.NewID"
	if v != Raw && v != AccessControlled {
		return "", errors.Errorf(op, errors.Invalid, "unknown thread variant 0x%x; use Raw (0x55) or AccessControlled (0x70)", uint64(v))
	}
	b := varint.ToUvarint(IDVersion)
	b = append(b, varint.ToUvarint(uint64(v))...)
	random := make([]byte, idRandomSize)
	if _, err := rand.Read(random); err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return ID(append(b, random...)), nil
}

// Decode parses the string form of an ID. Any multibase encoding is
// accepted; String always produces base32.
func Decode(s string) (ID, error) {
	const op errors.Op = "threads.Decode"
	if s == "" {
		return "", errors.E(op, errors.Invalid, "thread ID is empty")
	}
	_, b, err := multibase.Decode(s)
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "thread ID %q is not a multibase string: %v", errors.Clip(s), err)
	}
	if err := ID(b).Validate(); err != nil {
		return "", errors.Errorf(op, errors.Invalid, "%q: %v", errors.Clip(s), err)
	}
	return ID(b), nil
}

// Cast checks the raw bytes of an ID (what Bytes returns) and returns the ID.
func Cast(b []byte) (ID, error) {
	const op errors.Op = "threads.Cast"
	if err := ID(b).Validate(); err != nil {
		return "", errors.E(op, errors.Invalid, err)
	}
	return ID(b), nil
}
