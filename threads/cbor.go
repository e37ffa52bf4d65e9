package threads

import (
	"encoding/binary"

	"github.com/ipfs/go-cid"
)

// cborWriter writes the few dag-cbor shapes this package makes (the record,
// event and header nodes, and the byte string an encrypted block holds)
// straight into bytes. Building them as IPLD nodes and marshalling cost the
// former a fifth of its time and most of its garbage. Callers write map
// keys in dag-cbor's order (shorter keys first, then bytewise) and
// integers in their shortest form, as the dag-cbor encoder would;
// TestCBORWriterMatchesDagCBOR holds it to that encoder's bytes.
type cborWriter []byte

// CBOR major types.
const (
	cborUint  = 0 << 5
	cborNeg   = 1 << 5
	cborBytes = 2 << 5
	cborText  = 3 << 5
	cborMap   = 5 << 5
	cborTag   = 6 << 5
)

// cidTag is the CBOR tag of an IPLD link.
const cidTag = 42

// head writes a major type with its argument n in the shortest form.
func (w cborWriter) head(major byte, n uint64) cborWriter {
	switch {
	case n < 24:
		return append(w, major|byte(n))
	case n <= 0xff:
		return append(w, major|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(w, major|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(w, major|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(w, major|27), n)
}

// mapOf starts a map of n entries.
func (w cborWriter) mapOf(n int) cborWriter { return w.head(cborMap, uint64(n)) }

// text writes a text string (a map key).
func (w cborWriter) text(s string) cborWriter { return append(w.head(cborText, uint64(len(s))), s...) }

// bytes writes a byte string.
func (w cborWriter) bytes(b []byte) cborWriter {
	return append(w.head(cborBytes, uint64(len(b))), b...)
}

// int writes an integer.
func (w cborWriter) int(v int64) cborWriter {
	if v < 0 {
		return w.head(cborNeg, uint64(-1-v))
	}
	return w.head(cborUint, uint64(v))
}

// link writes a link to c: tag 42 over the CID's bytes behind a zero
// byte (the identity multibase prefix).
func (w cborWriter) link(c cid.Cid) cborWriter {
	w = w.head(cborTag, cidTag)
	w = w.head(cborBytes, uint64(1+c.ByteLen()))
	return append(append(w, 0), c.KeyString()...)
}
