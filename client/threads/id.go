package threadsclient

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-varint"

	"github.com/selfhub/hub/errors"
)

// ID is a thread (DB) ID: the raw bytes uvarint(version 1) ||
// uvarint(variant) || random bytes, held in a string so IDs compare with ==.
// It has the same representation as threads.ID, so the two convert with a
// plain conversion; the client keeps its own type because package threads
// also holds the server's thread store, which clients must not link.
type ID string

// The thread ID variants (PROTOCOL.md, "Threads").
const (
	variantRaw              = 0x55
	variantAccessControlled = 0x70
	idVersion               = 0x01
)

// NewID returns a new random ID of the raw variant with 32 random bytes,
// what the JavaScript ThreadID.fromRandom() makes.
func NewID() (ID, error) {
	b := varint.ToUvarint(idVersion)
	b = append(b, varint.ToUvarint(variantRaw)...)
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		return "", errors.E(errors.Op("threadsclient.NewID"), errors.Internal, err)
	}
	return ID(append(b, random...)), nil
}

// DecodeID parses the string form of an ID (multibase, base32 as
// ThreadID.toString writes it, or any other base).
func DecodeID(s string) (ID, error) {
	const op errors.Op = "threadsclient.DecodeID"
	_, b, err := multibase.Decode(s)
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "thread ID %q is not a multibase string: %v", errors.Clip(s), err)
	}
	id, err := CastID(b)
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "thread ID %q: %s", errors.Clip(s), errors.Message(err))
	}
	return id, nil
}

// CastID checks raw ID bytes, as they travel in requests, and returns the
// ID. It checks the layout the server checks (version 1, a known variant,
// 16 to 64 random bytes), so a malformed ID is refused before a call.
func CastID(b []byte) (ID, error) {
	const op errors.Op = "threadsclient.CastID"
	version, n, err := varint.FromUvarint(b)
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "bad version varint: %v", err)
	}
	if version != idVersion {
		return "", errors.Errorf(op, errors.Invalid, "unknown version %d (only version 1 exists)", version)
	}
	variant, m, err := varint.FromUvarint(b[n:])
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "bad variant varint: %v", err)
	}
	if variant != variantRaw && variant != variantAccessControlled {
		return "", errors.Errorf(op, errors.Invalid, "unknown variant 0x%x (want 0x55 raw or 0x70 access controlled)", variant)
	}
	if r := len(b) - n - m; r < 16 || r > 64 {
		return "", errors.Errorf(op, errors.Invalid, "random part is %d bytes, want 16 to 64", r)
	}
	return ID(b), nil
}

// String returns the multibase base32 form of id, what the JavaScript
// ThreadID.toString produces; the empty ID prints as "".
func (id ID) String() string {
	if id == "" {
		return ""
	}
	s, _ := multibase.Encode(multibase.Base32, []byte(id)) // cannot fail for a known base
	return s
}

// Bytes returns the raw bytes of id.
func (id ID) Bytes() []byte { return []byte(id) }

// Key is a thread key in its byte form: the service key (32 bytes)
// followed by the read key (32 bytes), or the service key alone.
type Key []byte

// String returns the multibase base32 form of k, what the JavaScript
// ThreadKey.toString produces.
func (k Key) String() string {
	if len(k) == 0 {
		return ""
	}
	s, _ := multibase.Encode(multibase.Base32, k)
	return s
}

// DecodeKey parses the string form of a key.
func DecodeKey(s string) (Key, error) {
	const op errors.Op = "threadsclient.DecodeKey"
	_, b, err := multibase.Decode(s)
	if err != nil {
		// The key is secret: say what is wrong without echoing it.
		return nil, errors.Errorf(op, errors.Invalid, "thread key is not a multibase string: %v", err)
	}
	if len(b) != 32 && len(b) != 64 {
		return nil, errors.Errorf(op, errors.Invalid, "thread key is %d bytes, want 64 (service and read key) or 32 (service key only)", len(b))
	}
	return Key(b), nil
}

// threadCode is the multiaddr code of /thread/<id>.
const threadCode = 406

// addrString renders a DB address, /…/thread/<id> in multiaddr's binary
// form, as text. go-multiaddr does not know the thread protocol, and
// registering it would change a process-wide table, so the components are
// walked here: those go-multiaddr knows are rendered by it, and the thread
// component by hand.
func addrString(b []byte) (string, error) {
	out := ""
	rest := b
	for len(rest) > 0 {
		code, n, err := varint.FromUvarint(rest)
		if err != nil {
			return "", fmt.Errorf("bad protocol code: %v", err)
		}
		if code == threadCode {
			size, m, err := varint.FromUvarint(rest[n:])
			if err != nil || uint64(len(rest)-n-m) < size {
				return "", fmt.Errorf("thread component is cut short")
			}
			id, err := CastID(rest[n+m : n+m+int(size)])
			if err != nil {
				return "", fmt.Errorf("thread component: %s", errors.Message(err))
			}
			out += "/thread/" + id.String()
			rest = rest[n+m+int(size):]
			continue
		}
		p := ma.ProtocolWithCode(int(code))
		if p.Code == 0 {
			return "", fmt.Errorf("unknown protocol code %d", code)
		}
		size := n
		switch {
		case p.Size == ma.LengthPrefixedVarSize:
			l, m, err := varint.FromUvarint(rest[n:])
			if err != nil {
				return "", fmt.Errorf("%s: bad length: %v", p.Name, err)
			}
			size += m + int(l)
		case p.Size > 0:
			size += p.Size / 8
		}
		if size > len(rest) {
			return "", fmt.Errorf("%s component is cut short", p.Name)
		}
		a, err := ma.NewMultiaddrBytes(rest[:size])
		if err != nil {
			return "", err
		}
		out += a.String()
		rest = rest[size:]
	}
	return out, nil
}

// hexClip is the hex form of bytes, shortened for messages.
func hexClip(b []byte) string {
	if len(b) > 40 {
		return hex.EncodeToString(b[:40]) + "…"
	}
	return hex.EncodeToString(b)
}
