package server

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/net/http2"
)

// TestH2Scanner feeds the scanner a client's frames, cut into pieces of
// every size from one byte up, and checks that it finds each frame and
// the DATA payloads without their padding, and that a call's messages are
// whole exactly where they end.
func TestH2Scanner(t *testing.T) {
	msg := func(body string) []byte {
		return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body))), body...)
	}
	first, second := msg("hello"), msg("a longer message, cut across frames")
	var wire bytes.Buffer
	wire.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&wire, nil)
	fr.WriteSettings()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}, EndHeaders: true})
	fr.WriteDataPadded(1, false, first, make([]byte, 7))
	fr.WriteData(1, false, second[:9])
	fr.WriteDataPadded(1, false, second[9:], make([]byte, 200))
	fr.WriteData(1, true, nil)

	type frame struct {
		typ   byte
		data  string
		whole bool // the call was between messages when the frame ended
	}
	want := []frame{{typ: 0x4}, {typ: h2Headers}, {h2Data, string(first), true}, {h2Data, string(second[:9]), false},
		{h2Data, string(second[9:]), true}, {h2Data, "", true}}
	for piece := 1; piece <= wire.Len(); piece++ {
		var (
			s    = h2Scanner{preface: h2ClientPrefaceLen}
			call recvCall
			got  []frame
			data []byte
		)
		on := func(f *h2Frame, b []byte, ev h2Event) error {
			switch ev {
			case h2Payload:
				data = append(data, b...)
				call.body(b)
			case h2End:
				got = append(got, frame{f.typ, string(data), call.whole()})
				data = nil
			}
			return nil
		}
		for b := wire.Bytes(); len(b) > 0; b = b[min(piece, len(b)):] {
			s.scan(b[:min(piece, len(b))], on)
		}
		if len(got) != len(want) {
			t.Fatalf("in pieces of %d bytes: %d frames %v; want %v", piece, len(got), got, want)
		}
		for i := range want {
			if got[i].typ != want[i].typ || got[i].data != want[i].data || got[i].typ == h2Data && got[i].whole != want[i].whole {
				t.Fatalf("in pieces of %d bytes, frame %d: %+v; want %+v", piece, i, got[i], want[i])
			}
		}
		if !s.between() {
			t.Fatalf("in pieces of %d bytes: the scanner is not between frames at the end", piece)
		}
	}
}

// TestFrameCost checks the cost of a frame against the pool's tiers.
func TestFrameCost(t *testing.T) {
	for _, c := range []struct {
		n    int
		want int64
	}{{0, smallFrameOverhead}, {1, 1 + smallFrameOverhead}, {1023, 1023 + smallFrameOverhead}, {1024, 1024}, {1025, 2048}, {16384, 16384}} {
		if got := frameCost(c.n); got != c.want {
			t.Errorf("frameCost(%d) = %d; want %d", c.n, got, c.want)
		}
	}
}

// TestWSScanner feeds the scanner a gRPC-Web client's websocket frames,
// masked and of every length encoding, cut into pieces of every size, and
// checks that it counts exactly the request bytes: none of the headers
// message, control frames or gRPC-Web's first byte of each message.
func TestWSScanner(t *testing.T) {
	frame := func(fin bool, op byte, payload []byte) []byte {
		b := []byte{op, 0x80}
		if fin {
			b[0] |= 0x80
		}
		switch n := len(payload); {
		case n < 126:
			b[1] |= byte(n)
		case n < 1<<16:
			b[1] |= 126
			b = binary.BigEndian.AppendUint16(b, uint16(n))
		default:
			b[1] |= 127
			b = binary.BigEndian.AppendUint64(b, uint64(n))
		}
		b = append(b, 1, 2, 3, 4) // the masking key; the scanner need not unmask
		return append(b, payload...)
	}
	var wire []byte
	wire = append(wire, frame(true, 2, []byte("authorization: bearer x\r\n"))...)   // headers
	wire = append(wire, frame(true, 2, append([]byte{0}, make([]byte, 300)...))...) // 300 request bytes
	wire = append(wire, frame(true, 9, []byte("ping"))...)                          // control
	wire = append(wire, frame(false, 2, append([]byte{0}, make([]byte, 99)...))...) // 99, continued:
	wire = append(wire, frame(true, 0, make([]byte, 70000))...)                     // 70000 more
	wire = append(wire, frame(true, 2, []byte{1})...)                               // done sending
	const want = 300 + 99 + 70000
	for _, piece := range []int{1, 2, 3, 7, 13, 100, 4096, len(wire)} {
		var s wsScanner
		var got int64
		for b := wire; len(b) > 0; b = b[min(piece, len(b)):] {
			got += s.scan(b[:min(piece, len(b))])
		}
		if got != want || s.nhdr != 0 {
			t.Fatalf("in pieces of %d bytes: %d request bytes (header state %d); want %d", piece, got, s.nhdr, want)
		}
	}
}
