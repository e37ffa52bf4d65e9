package buckets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"io"

	"github.com/selfhub/hub/errors"
)

// The encrypted file format of private buckets: a seekable authenticated
// stream (the STREAM construction of Hoang, Reyhanitabar, Rogaway and
// Vizár). The plaintext is cut into segments of SegmentSize bytes (the
// last one shorter, empty only for an empty file), and each is sealed with
// AES-256-GCM under a key of its own file, with the nonce
//
//	nonce prefix (7 random bytes) || segment index (4, big-endian) || last (1: 0 or 1)
//
// and the header as associated data. A reordered, spliced, dropped or
// appended segment fails to open because its index or last flag differs; a
// stream cut at a segment boundary fails because its new last segment was
// sealed as not last. The file key is derived from the path key with
// HKDF-SHA256 and the header's random salt, so no two files share a key
// even under one path key.
//
//	header: magic "hub\x01" (4) || salt (32) || nonce prefix (7)
//	then:   sealed segments of SegmentSize+16 bytes, the last one shorter
//
// The ciphertext is imported as an ordinary UnixFS file, so its blocks are
// plain IPFS blocks that hold only ciphertext; a plaintext offset maps to
// one segment, so range reads decrypt only the segments they touch.
const (
	// SegmentSize is the plaintext size of a full segment.
	SegmentSize = 64 << 10
	saltSize    = 32
	prefixSize  = 7
	tagSize     = 16
	headerSize  = len(streamMagic) + saltSize + prefixSize
	sealedSize  = SegmentSize + tagSize
	// maxSegments is the most segments a file may have: the index is 32 bits.
	maxSegments = 1 << 32
)

// streamMagic starts every encrypted file; its last byte is the version.
const streamMagic = "hub\x01"

// errTampered is the one message for any segment that fails to open: the
// data or the key is wrong, and which cannot be told apart.
const errTampered = "encrypted file failed authentication: its blocks were altered or the bucket's keys do not match them"

// fileAEAD derives the AEAD of one file from the path key and the salt.
func fileAEAD(pathKey, salt []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, pathKey, salt, "hub private bucket file v1", 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// segmentNonce builds the nonce of segment i.
func segmentNonce(dst []byte, prefix []byte, i uint64, last bool) []byte {
	dst = append(dst[:0], prefix...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(i))
	if last {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// PlaintextSize is the plaintext size of an encrypted file of c bytes, or
// an Internal error when no plaintext encrypts to that size (a truncated
// or padded file).
func PlaintextSize(c int64) (int64, error) {
	const op errors.Op = "buckets.PlaintextSize"
	m := c - int64(headerSize)
	if m < tagSize {
		return 0, errors.Errorf(op, errors.DataLoss, "encrypted file is %d bytes, too short to be whole; it was truncated", c)
	}
	segs := (m + sealedSize - 1) / sealedSize
	last := m - (segs-1)*sealedSize
	if last < tagSize || last == tagSize && segs > 1 || segs > maxSegments {
		return 0, errors.Errorf(op, errors.DataLoss, "encrypted file is %d bytes, a size no whole file has; it was truncated", c)
	}
	return m - segs*tagSize, nil
}

// encryptReader encrypts what it reads from r into the stream format. It
// holds two segments in memory whatever the size of the data: it reads one
// segment ahead to know which one is last.
type encryptReader struct {
	r      io.Reader
	aead   cipher.AEAD
	header []byte
	prefix []byte
	nonce  []byte

	idx    uint64
	cur    []byte // the next plaintext segment to seal
	curEOF bool   // r ended while cur was read: cur is the last segment
	next   []byte // the read-ahead buffer
	out    []byte // sealed bytes not yet returned
	sealed []byte // the buffer out points into after the header
	done   bool   // the last segment is sealed
	err    error
}

// newEncryptReader returns a reader of the encrypted form of r under a
// fresh file key derived from pathKey.
func newEncryptReader(pathKey []byte, r io.Reader) (io.Reader, error) {
	header := make([]byte, headerSize)
	copy(header, streamMagic)
	if _, err := rand.Read(header[len(streamMagic):]); err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	aead, err := fileAEAD(pathKey, header[len(streamMagic):len(streamMagic)+saltSize])
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	// The guard keeps a source cut short (io.ErrUnexpectedEOF) from
	// reading as the end of the data, as in Import.
	e := &encryptReader{r: readErrGuard{r}, aead: aead, header: header, prefix: header[len(streamMagic)+saltSize:],
		out: header, next: make([]byte, SegmentSize)}
	e.cur, e.curEOF, e.err = fill(e.r, make([]byte, SegmentSize))
	return e, nil
}

// fill reads up to a segment into buf; eof is true when r ended.
func fill(r io.Reader, buf []byte) ([]byte, bool, error) {
	n, err := io.ReadFull(r, buf[:SegmentSize])
	switch err {
	case nil:
		return buf[:n], false, nil
	case io.EOF, io.ErrUnexpectedEOF:
		return buf[:n], true, nil
	}
	return buf[:n], false, err
}

func (e *encryptReader) Read(p []byte) (int, error) {
	if len(e.out) == 0 {
		if err := e.seal(); err != nil {
			return 0, err
		}
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}

// seal seals the next segment into e.out, reading ahead one segment to
// learn whether it is the last.
func (e *encryptReader) seal() error {
	switch {
	case e.err != nil:
		return e.err
	case e.done:
		return io.EOF
	case e.idx >= maxSegments:
		e.err = errors.E(errors.Invalid, "file too large for a private bucket: at most 256 TiB")
		return e.err
	}
	last := e.curEOF
	var next []byte
	nextEOF := false
	if !last {
		if next, nextEOF, e.err = fill(e.r, e.next); e.err != nil {
			return e.err
		}
		last = nextEOF && len(next) == 0
	}
	e.nonce = segmentNonce(e.nonce, e.prefix, e.idx, last)
	e.sealed = e.aead.Seal(e.sealed[:0], e.nonce, e.cur, e.header)
	e.out = e.sealed
	e.idx++
	if last {
		e.done = true
		return nil
	}
	e.cur, e.next = next, e.cur[:SegmentSize]
	e.curEOF = nextEOF
	return nil
}

// decryptReader reads the plaintext of an encrypted file, seeking by
// segment: it reads and opens only the segments that the reads touch.
type decryptReader struct {
	src    io.ReadSeeker // the ciphertext
	aead   cipher.AEAD
	header []byte
	prefix []byte
	size   int64 // plaintext size
	segs   int64 // number of segments

	off    int64  // plaintext offset of the next Read
	srcOff int64  // offset of src, to seek only on jumps
	seg    int64  // index of the segment in plain, or -1
	plain  []byte // the open segment
	buf    []byte // sealed bytes of one segment
	nonce  []byte
}

// newDecryptReader opens the encrypted file src of csize bytes with
// pathKey. A wrong key or altered blocks fail here (the first segment is
// checked) or at the Read that reaches them, with a DataLoss error; no
// byte of a segment that fails to open is returned.
func newDecryptReader(pathKey []byte, src io.ReadSeeker, csize int64) (*decryptReader, error) {
	const op errors.Op = "buckets.decrypt"
	size, err := PlaintextSize(csize)
	if err != nil {
		return nil, errors.E(op, err)
	}
	header := make([]byte, headerSize)
	if _, err := io.ReadFull(src, header); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	if !bytes.Equal(header[:len(streamMagic)], []byte(streamMagic)) {
		return nil, errors.E(op, errors.DataLoss, "not an encrypted file of this hub (bad header); its blocks were altered or it was not pushed to a private bucket")
	}
	aead, err := fileAEAD(pathKey, header[len(streamMagic):len(streamMagic)+saltSize])
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	d := &decryptReader{src: src, aead: aead, header: header, prefix: header[len(streamMagic)+saltSize:],
		size: size, segs: max(1, (size+SegmentSize-1)/SegmentSize), seg: -1, srcOff: int64(headerSize)}
	if err := d.load(0); err != nil {
		return nil, err
	}
	return d, nil
}

// Size is the plaintext size.
func (d *decryptReader) Size() int64 { return d.size }

// load reads and opens segment i into d.plain.
func (d *decryptReader) load(i int64) error {
	const op errors.Op = "buckets.decrypt"
	if d.seg == i {
		return nil
	}
	d.seg = -1
	n := int64(sealedSize)
	if i == d.segs-1 {
		n = d.size - i*SegmentSize + tagSize
	}
	if at := int64(headerSize) + i*sealedSize; at != d.srcOff {
		if _, err := d.src.Seek(at, io.SeekStart); err != nil {
			return errors.E(op, errors.KindOf(err), err)
		}
		d.srcOff = at
	}
	if cap(d.buf) < int(n) {
		d.buf = make([]byte, sealedSize)
	}
	d.buf = d.buf[:n]
	m, err := io.ReadFull(d.src, d.buf)
	d.srcOff += int64(m)
	switch err {
	case nil:
	case io.EOF, io.ErrUnexpectedEOF:
		return errors.E(op, errors.DataLoss, "encrypted file is shorter than its size says; its blocks were altered")
	default:
		return errors.E(op, errors.Internal, err)
	}
	d.nonce = segmentNonce(d.nonce, d.prefix, uint64(i), i == d.segs-1)
	plain, err := d.aead.Open(d.plain[:0], d.nonce, d.buf, d.header)
	if err != nil {
		return errors.E(op, errors.DataLoss, errTampered)
	}
	d.plain, d.seg = plain, i
	return nil
}

func (d *decryptReader) Read(p []byte) (int, error) {
	if d.off >= d.size {
		return 0, io.EOF
	}
	i := d.off / SegmentSize
	if err := d.load(i); err != nil {
		return 0, err
	}
	n := copy(p, d.plain[d.off-i*SegmentSize:])
	d.off += int64(n)
	return n, nil
}

// Seek sets the plaintext offset of the next Read.
func (d *decryptReader) Seek(offset int64, whence int) (int64, error) {
	const op errors.Op = "buckets.decrypt"
	switch whence {
	case io.SeekCurrent:
		offset += d.off
	case io.SeekEnd:
		offset += d.size
	}
	if offset < 0 {
		return 0, errors.E(op, errors.Invalid, "seek before the start of the file")
	}
	d.off = offset
	return offset, nil
}

// WriteTo writes the rest of the plaintext to w, a segment at a time.
func (d *decryptReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for d.off < d.size {
		i := d.off / SegmentSize
		if err := d.load(i); err != nil {
			return total, err
		}
		n, err := w.Write(d.plain[d.off-i*SegmentSize:])
		d.off += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
