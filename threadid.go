package hub

import (
	"encoding/hex"
	"fmt"

	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-varint"
)

// ThreadID names a thread, which holds one DB. It holds the raw bytes
// uvarint(version) || uvarint(variant) || random bytes in a string, so IDs
// compare with == and serve as map keys; the zero ID is undefined. These
// are go-threads' IDs, which the JavaScript ThreadID parser accepts.
// Package threads makes (NewID) and parses (Decode, Cast) them under the
// name threads.ID, the same type.
type ThreadID string

// ThreadVariant says what kind of thread an ID names.
type ThreadVariant uint64

// Thread variants; the values are the go-threads and @textile/threads-id
// codes.
const (
	RawThread              ThreadVariant = 0x55 // a thread with no access control
	AccessControlledThread ThreadVariant = 0x70 // a thread that keeps an access control list
)

// String returns the variant's name.
func (v ThreadVariant) String() string {
	switch v {
	case RawThread:
		return "raw"
	case AccessControlledThread:
		return "access_controlled"
	}
	return fmt.Sprintf("variant(0x%x)", uint64(v))
}

const (
	// ThreadIDVersion is the only version of thread IDs.
	ThreadIDVersion = 0x01
	// minThreadIDRandom is the shortest random part accepted: the
	// JavaScript parser refuses fewer than 16 bytes, so such an ID could
	// not travel.
	minThreadIDRandom = 16
	// maxThreadIDRandom bounds the random part of untrusted IDs; IDs end
	// up in store keys and log lines.
	maxThreadIDRandom = 64
)

// Validate reports why id is malformed, or nil when it is version 1 of a
// known variant with 16 to 64 random bytes. The error has no kind (this
// package imports nothing of the project): callers report it as Invalid.
func (id ThreadID) Validate() error {
	if err := validateThreadID([]byte(id)); err != nil {
		return fmt.Errorf("thread ID 0x%s: %v", clipHex([]byte(id)), err)
	}
	return nil
}

// String returns the multibase base32 form of id ('b' and lower-case
// letters), what the JavaScript ThreadID.toString produces. The undefined
// ID prints as the empty string.
func (id ThreadID) String() string {
	if id == "" {
		return ""
	}
	s, _ := multibase.Encode(multibase.Base32, []byte(id)) // cannot fail for a known base
	return s
}

// Bytes returns the raw bytes of id.
func (id ThreadID) Bytes() []byte { return []byte(id) }

// Version returns id's version, or 0 when it is malformed.
func (id ThreadID) Version() uint64 {
	v, _, err := varint.FromUvarint([]byte(id))
	if err != nil {
		return 0
	}
	return v
}

// Variant returns id's variant, or 0 when it is malformed.
func (id ThreadID) Variant() ThreadVariant {
	_, n, err := varint.FromUvarint([]byte(id))
	if err != nil {
		return 0
	}
	v, _, err := varint.FromUvarint([]byte(id)[n:])
	if err != nil {
		return 0
	}
	return ThreadVariant(v)
}

// validateThreadID checks the layout of raw ID bytes. Varints must be
// minimal so that one ID has one byte form (IDs are compared as strings).
func validateThreadID(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("empty")
	}
	version, n, err := varint.FromUvarint(b)
	if err != nil {
		return fmt.Errorf("bad version varint: %v", err)
	}
	if version != ThreadIDVersion {
		return fmt.Errorf("unknown version %d (only version 1 exists)", version)
	}
	variant, m, err := varint.FromUvarint(b[n:])
	if err != nil {
		return fmt.Errorf("bad variant varint: %v", err)
	}
	if v := ThreadVariant(variant); v != RawThread && v != AccessControlledThread {
		return fmt.Errorf("unknown variant 0x%x (want 0x55 raw or 0x70 access controlled)", variant)
	}
	switch r := len(b) - n - m; {
	case r < minThreadIDRandom:
		return fmt.Errorf("random part is %d bytes, want at least %d", r, minThreadIDRandom)
	case r > maxThreadIDRandom:
		return fmt.Errorf("random part is %d bytes, want at most %d", r, maxThreadIDRandom)
	}
	return nil
}

// clipHex is the hex form of untrusted bytes, shortened for messages.
func clipHex(b []byte) string {
	if len(b) > 40 {
		return hex.EncodeToString(b[:40]) + "…"
	}
	return hex.EncodeToString(b)
}
