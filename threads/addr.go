package threads

import (
	"fmt"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-varint"

	"github.com/selfhub/hub/errors"
)

// A DB's address is a peer's multiaddr followed by /thread/<id>, as
// GetDBInfo lists them and NewDBFromAddr takes them; the client and the
// server both read and write it.

// AddrCode is the multiaddr code of /thread/<id>.
const AddrCode = 406

// AddrString renders a DB address, /…/thread/<id> in multiaddr's binary
// form, as text. go-multiaddr does not know the thread protocol, and
// registering it would change a process-wide table, so the components are
// walked here: those go-multiaddr knows are rendered by it, and the thread
// component by hand.
func AddrString(b []byte) (string, error) {
	out := ""
	rest := b
	for len(rest) > 0 {
		code, n, err := varint.FromUvarint(rest)
		if err != nil {
			return "", fmt.Errorf("bad protocol code: %v", err)
		}
		if code == AddrCode {
			size, m, err := varint.FromUvarint(rest[n:])
			if err != nil || uint64(len(rest)-n-m) < size {
				return "", fmt.Errorf("thread component is cut short")
			}
			id, err := Cast(rest[n+m : n+m+int(size)])
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

// AddrBytes is AddrString's inverse for a DB address: it gives s,
// /…/thread/<id>, in multiaddr's binary form, and the ID it names. The
// thread component must come last.
func AddrBytes(s string) ([]byte, ID, error) {
	host, id, err := SplitAddr(s)
	if err != nil {
		return nil, "", err
	}
	var b []byte
	if host != nil {
		b = host.Bytes()
	}
	b = append(b, varint.ToUvarint(AddrCode)...)
	b = append(b, varint.ToUvarint(uint64(len(id)))...)
	return append(b, id...), id, nil
}

// SplitAddr splits a DB address in text form, /…/thread/<id>, into the
// peer's multiaddr before /thread (nil when there is none) and the ID.
func SplitAddr(s string) (ma.Multiaddr, ID, error) {
	const thread = "/thread/"
	i := strings.LastIndex(s, thread)
	if i < 0 {
		return nil, "", fmt.Errorf("it does not end in %s<id>", thread)
	}
	id, err := Decode(s[i+len(thread):])
	if err != nil {
		return nil, "", fmt.Errorf("thread component: %s", errors.Message(err))
	}
	if i == 0 {
		return nil, id, nil
	}
	host, err := ma.NewMultiaddr(s[:i])
	if err != nil {
		return nil, "", err
	}
	return host, id, nil
}
