package replicate

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/threads"
)

// ProtocolID names the protocol and its version: a peer that speaks
// another version is not offered this one's streams.
const ProtocolID = "/hub/threads/replicate/1.0.0"

// Every stream carries one exchange, as frames: uvarint(length) || bytes.
// The first frame is a request (JSON), then
//
//	heads: the answer (JSON): the responder's logs, or "same" when its
//	       digest equals the requester's
//	pull:  an answer (JSON), then up to the asked number of record frames
//	       of one log, oldest first, then an empty frame
//	push:  the requester's record frames, then an empty frame; then the
//	       answer (JSON)
//
// A record frame is uvarint(n) and n blocks, each uvarint(len) || CID
// bytes || uvarint(len) || data: the record block first, then its event,
// header and body blocks. Nothing from a peer is trusted: frames are
// capped, requests must prove that the peer holds the thread's key (mac),
// and records are verified by the log store before they are stored.

// maxRequest caps a request or answer frame that is not a record.
const maxRequest = 64 << 10

// maxBlocks is the most blocks a record frame holds: record, event,
// header, body.
const maxBlocks = 4

// The operations of a request.
const (
	opHeads = "heads"
	opPull  = "pull"
	opPush  = "push"
)

// request opens every stream.
type request struct {
	Op     string `json:"op"`
	Thread string `json:"thread"`
	// MAC proves that the requester holds the thread's service key:
	// proof(key, thread, requester, responder).
	MAC []byte `json:"mac"`
	// Digest is the requester's heads digest (heads).
	Digest []byte `json:"digest,omitempty"`
	// Log and After name where a pull starts: after record After (""
	// for the log's first record) of log Log, which is the log's record
	// number Counter (0 for none): with it the responder finds the
	// records by position instead of walking its copy of the log from its
	// head. Limit caps the records.
	Log     string `json:"log,omitempty"`
	After   string `json:"after,omitempty"`
	Counter int64  `json:"counter,omitempty"`
	Limit   int    `json:"limit,omitempty"`
}

// answer is the responder's reply; Err is set when it refuses.
type answer struct {
	Err string `json:"err,omitempty"`
	// heads
	Same bool       `json:"same,omitempty"`
	Logs []headJSON `json:"logs,omitempty"`
	// push: how many records were new, and whether one did not follow
	// what the responder holds (it then pulls from the requester).
	Ingested int  `json:"ingested,omitempty"`
	Gap      bool `json:"gap,omitempty"`
}

// headJSON is one log's head as heads sends it.
type headJSON struct {
	Log     string `json:"log"`
	Head    string `json:"head"`
	Counter int64  `json:"counter"`
}

// head is a log's head, parsed.
type head struct {
	log     peer.ID
	head    cid.Cid
	counter int64
}

// proof is what a request's MAC must be: HMAC-SHA256 under the thread's
// service key over the protocol, the thread and both peers, so that it
// proves the key without revealing it and is good for one pair of peers
// in one direction only (a responder cannot replay it to a third peer).
func proof(key threads.Key, thread threads.ID, from, to peer.ID) []byte {
	m := hmac.New(sha256.New, key.Service().Bytes())
	for _, part := range [][]byte{[]byte(ProtocolID), thread.Bytes(), []byte(from), []byte(to)} {
		var n [binary.MaxVarintLen64]byte
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		m.Write(part)
	}
	return m.Sum(nil)
}

// digest is one hash over every log's head: two peers with the same
// digest hold the same records.
func digest(heads []head) []byte {
	h := sha256.New()
	for _, l := range heads { // sorted by log
		h.Write([]byte(l.log))
		h.Write(l.head.Bytes())
	}
	return h.Sum(nil)
}

// writeFrame writes one frame.
func writeFrame(w *bufio.Writer, b []byte) error {
	var n [binary.MaxVarintLen64]byte
	if _, err := w.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// readFrame reads one frame of at most max bytes.
func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := readFrameLen(r, max)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// readFrameLen reads the length that starts a frame, and refuses one of
// more than max bytes.
func readFrameLen(r *bufio.Reader, max int) (int, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, err
	}
	if n > uint64(max) {
		return 0, fmt.Errorf("frame of %d bytes is larger than the limit, %d", n, max)
	}
	return int(n), nil
}

// writeJSON writes v as a frame.
func writeJSON(w *bufio.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFrame(w, b)
}

// readJSON reads a frame of at most max bytes into v.
func readJSON(r *bufio.Reader, v any, max int) error {
	b, err := readFrame(r, max)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// encodeRecord lays out a record frame.
func encodeRecord(blocks []threads.Block) []byte {
	out := binary.AppendUvarint(nil, uint64(len(blocks)))
	for _, b := range blocks {
		out = binary.AppendUvarint(out, uint64(b.Cid.ByteLen()))
		out = append(out, b.Cid.Bytes()...)
		out = binary.AppendUvarint(out, uint64(len(b.Data)))
		out = append(out, b.Data...)
	}
	return out
}

// decodeRecord reads a record frame. It checks only the layout: the log
// store verifies the blocks.
func decodeRecord(b []byte) ([]threads.Block, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > maxBlocks {
		return nil, fmt.Errorf("a record frame holds 1 to %d blocks", maxBlocks)
	}
	b = b[k:]
	field := func() ([]byte, error) {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return nil, fmt.Errorf("record frame is cut short")
		}
		f := b[k : k+int(l)]
		b = b[k+int(l):]
		return f, nil
	}
	out := make([]threads.Block, 0, n)
	for range n {
		raw, err := field()
		if err != nil {
			return nil, err
		}
		c, err := cid.Cast(raw)
		if err != nil {
			return nil, fmt.Errorf("block CID: %v", err)
		}
		data, err := field()
		if err != nil {
			return nil, err
		}
		out = append(out, threads.Block{Cid: c, Data: data})
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("record frame has %d bytes past its blocks", len(b))
	}
	return out, nil
}
