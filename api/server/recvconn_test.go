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
