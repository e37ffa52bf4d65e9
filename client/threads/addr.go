package threadsclient

import (
	"encoding/hex"
	"fmt"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-varint"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// ID is a thread (DB) ID: package threads' type, which the client shares
// with the server (package threads holds no server code). The alias lets
// callers of the client name it without a second import.
type ID = threads.ID

// Key is a thread key: package threads' type, shared like ID.
type Key = threads.Key

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
			id, err := threads.Cast(rest[n+m : n+m+int(size)])
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

// addrBytes is addrString's inverse for a DB address: it gives s,
// /…/thread/<id>, in multiaddr's binary form, and the ID it names. The
// thread component must come last.
func addrBytes(s string) ([]byte, ID, error) {
	const thread = "/thread/"
	i := strings.LastIndex(s, thread)
	if i < 0 {
		return nil, "", fmt.Errorf("it does not end in %s<id>", thread)
	}
	id, err := threads.Decode(s[i+len(thread):])
	if err != nil {
		return nil, "", fmt.Errorf("thread component: %s", errors.Message(err))
	}
	var b []byte
	if i > 0 {
		host, err := ma.NewMultiaddr(s[:i])
		if err != nil {
			return nil, "", err
		}
		b = host.Bytes()
	}
	b = append(b, varint.ToUvarint(threadCode)...)
	b = append(b, varint.ToUvarint(uint64(len(id)))...)
	return append(b, id...), id, nil
}

// hexClip is the hex form of bytes, shortened for messages.
func hexClip(b []byte) string {
	if len(b) > 40 {
		return hex.EncodeToString(b[:40]) + "…"
	}
	return hex.EncodeToString(b)
}
