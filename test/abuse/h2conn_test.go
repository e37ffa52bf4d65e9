package abuse

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/metadata"
)

// h2conn is a raw HTTP/2 connection to hubd's gRPC port, for what the
// gRPC library's client never does: open more streams than the server
// allows, ping too often, or say nothing at all.
type h2conn struct {
	t    testing.TB
	addr string
	c    net.Conn
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
	// maxStreams is the SETTINGS_MAX_CONCURRENT_STREAMS hubd sent, once
	// next has read its settings.
	maxStreams uint32
}

// dialH2 connects to addr and sends the client preface and its settings.
func dialH2(t testing.TB, addr string) *h2conn {
	t.Helper()
	return dialH2From(t, nil, addr)
}

// dialH2From does what dialH2 does from the loopback address src (nil:
// any), so that hubd sees the connection come from another machine.
func dialH2From(t testing.TB, src net.IP, addr string) *h2conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := &h2conn{t: t, addr: addr, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.hbuf)
	if _, err := c.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return h
}

// call sends the headers of a gRPC call of method on stream id with the
// credentials ctx carries. Without a request (request nil), the call stays
// open: its handler waits for the request. With one, the stream ends with
// it (a unary call).
func (h *h2conn) call(id uint32, method string, ctx context.Context, request []byte) {
	h.t.Helper()
	h.hbuf.Reset()
	fields := [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", method}, {":authority", h.addr},
		{"content-type", "application/grpc"}, {"te", "trailers"}}
	md, _ := metadata.FromOutgoingContext(ctx)
	for k, vs := range md {
		for _, v := range vs {
			fields = append(fields, [2]string{k, v})
		}
	}
	for _, f := range fields {
		if err := h.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			h.t.Fatal(err)
		}
	}
	err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hbuf.Bytes(), EndHeaders: true})
	if err != nil {
		h.t.Fatal(err)
	}
	if request != nil {
		// The gRPC message prefix: not compressed, then the length.
		msg := append([]byte{0, byte(len(request) >> 24), byte(len(request) >> 16), byte(len(request) >> 8), byte(len(request))}, request...)
		if err := h.fr.WriteData(id, true, msg); err != nil {
			h.t.Fatal(err)
		}
	}
}

// next returns the next frame from hubd other than its settings (which it
// acknowledges), or the error that ended the connection. The test fails if
// nothing comes by deadline.
func (h *h2conn) next(deadline time.Time) (http2.Frame, error) {
	h.t.Helper()
	h.c.SetReadDeadline(deadline)
	for {
		f, err := h.fr.ReadFrame()
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			h.t.Fatalf("hubd sent nothing more by the deadline")
		}
		if err != nil {
			return nil, err
		}
		if s, ok := f.(*http2.SettingsFrame); ok {
			if v, ok := s.Value(http2.SettingMaxConcurrentStreams); ok {
				h.maxStreams = v
			}
			if !s.IsAck() {
				if err := h.fr.WriteSettingsAck(); err != nil {
					return nil, err
				}
			}
			continue
		}
		return f, nil
	}
}

// goAway reads frames until hubd's GOAWAY and returns it; the test fails if
// the connection ends first or nothing comes by deadline.
func (h *h2conn) goAway(deadline time.Time) *http2.GoAwayFrame {
	h.t.Helper()
	for {
		f, err := h.next(deadline)
		if err != nil {
			h.t.Fatalf("the connection ended without a GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			return g
		}
	}
}

// closed reads frames until hubd closes the connection; the test fails if
// it is still open at deadline.
func (h *h2conn) closed(deadline time.Time) {
	h.t.Helper()
	for {
		if _, err := h.next(deadline); err != nil {
			return
		}
	}
}
