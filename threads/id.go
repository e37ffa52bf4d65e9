package threads

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-varint"

	"github.com/selfhub/hub/errors"
)

// ID identifies a thread. It holds the raw bytes
// uvarint(version) || uvarint(variant) || random bytes in a string, so it
// can be compared with == and used as a map key. The zero ID is undefined.
type ID string

// Variant says what kind of thread an ID names.
type Variant uint64

// Thread variants; the values are the go-threads and @textile/threads-id
// codes.
const (
	Raw              Variant = 0x55 // a thread with no access control
	AccessControlled Variant = 0x70 // a thread that keeps an access control list
)

// String returns the variant's name.
func (v Variant) String() string {
	switch v {
	case Raw:
		return "raw"
	case AccessControlled:
		return "access_controlled"
	}
	return fmt.Sprintf("variant(0x%x)", uint64(v))
}

const (
	// IDVersion is the only version of thread IDs.
	IDVersion = 0x01
	// idRandomSize is how many random bytes NewID draws.
	idRandomSize = 32
	// minIDRandom is the shortest random part accepted: the JavaScript
	// parser refuses fewer than 16 bytes, so such an ID could not travel.
	minIDRandom = 16
	// maxIDRandom bounds the random part of untrusted IDs; IDs end up in
	// store keys and log lines.
	maxIDRandom = 64
)

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
	if err := validateID(b); err != nil {
		return "", errors.Errorf(op, errors.Invalid, "thread ID %q: %v", errors.Clip(s), err)
	}
	return ID(b), nil
}

// Cast checks the raw bytes of an ID (what Bytes returns) and returns the ID.
func Cast(b []byte) (ID, error) {
	if err := validateID(b); err != nil {
		return "", errors.Errorf("threads.Cast", errors.Invalid, "thread ID 0x%s: %v", trimHex(b), err)
	}
	return ID(b), nil
}

// Validate reports whether id is well formed: version 1, a known variant
// and 16 to 64 random bytes.
func (id ID) Validate() error {
	if err := validateID([]byte(id)); err != nil {
		return errors.Errorf("threads.ID.Validate", errors.Invalid, "thread ID 0x%s: %v", trimHex([]byte(id)), err)
	}
	return nil
}

// String returns the multibase base32 form of id ('b' and lower-case
// letters), what the JavaScript ThreadID.toString produces. The undefined
// ID prints as the empty string.
func (id ID) String() string {
	if id == "" {
		return ""
	}
	s, _ := multibase.Encode(multibase.Base32, []byte(id)) // cannot fail for a known base
	return s
}

// Bytes returns the raw bytes of id.
func (id ID) Bytes() []byte { return []byte(id) }

// Version returns id's version, or 0 when it is malformed.
func (id ID) Version() uint64 {
	v, _, err := varint.FromUvarint([]byte(id))
	if err != nil {
		return 0
	}
	return v
}

// Variant returns id's variant, or 0 when it is malformed.
func (id ID) Variant() Variant {
	_, n, err := varint.FromUvarint([]byte(id))
	if err != nil {
		return 0
	}
	v, _, err := varint.FromUvarint([]byte(id)[n:])
	if err != nil {
		return 0
	}
	return Variant(v)
}

// validateID checks the layout of raw ID bytes. Varints must be minimal so
// that one ID has one byte form (IDs are compared as strings).
func validateID(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("empty")
	}
	version, n, err := varint.FromUvarint(b)
	if err != nil {
		return fmt.Errorf("bad version varint: %v", err)
	}
	if version != IDVersion {
		return fmt.Errorf("unknown version %d (only version 1 exists)", version)
	}
	variant, m, err := varint.FromUvarint(b[n:])
	if err != nil {
		return fmt.Errorf("bad variant varint: %v", err)
	}
	if v := Variant(variant); v != Raw && v != AccessControlled {
		return fmt.Errorf("unknown variant 0x%x (want 0x55 raw or 0x70 access controlled)", variant)
	}
	switch r := len(b) - n - m; {
	case r < minIDRandom:
		return fmt.Errorf("random part is %d bytes, want at least %d", r, minIDRandom)
	case r > maxIDRandom:
		return fmt.Errorf("random part is %d bytes, want at most %d", r, maxIDRandom)
	}
	return nil
}

// trimHex is the hex form of untrusted bytes, shortened for messages.
func trimHex(b []byte) string {
	if len(b) > 40 {
		return hex.EncodeToString(b[:40]) + "…"
	}
	return hex.EncodeToString(b)
}
