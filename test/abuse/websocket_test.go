package abuse

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/selfhub/hub/api/pb/threadspb"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// TestWebsocketPreAuth: 30 raw websockets to the gRPC-Web port each start
// a 60 MiB first message (where the call's headers go) and never finish
// it. hubd reads no more than --web-preauth-bytes of each and closes them
// when --handshake-timeout passes; its memory stays bounded; a websocket
// that sends nothing is closed too; one whose headers carry a bogus API key
// gets Unauthenticated; another tenant is served throughout.
func TestWebsocketPreAuth(t *testing.T) {
	const (
		conns   = 30
		perConn = 60 << 20
	)
	h := startHub(t, "--handshake-timeout", "2s")
	other := newTenant(t, h, "alice")
	before, _ := h.rss(t)

	var wg sync.WaitGroup
	sent := make([]int, conns)
	errs := make([]error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialWebsocket(t, h.Addrs.Web)
			if c == nil {
				return
			}
			defer c.Close()
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			if err := startFrame(c, perConn); err != nil {
				errs[i] = err
				return
			}
			chunk := make([]byte, 64<<10)
			for sent[i] < perConn {
				n, err := c.Write(chunk)
				sent[i] += n
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						errs[i] = fmt.Errorf("hubd neither read nor closed the websocket in a minute")
					}
					return // closed by hubd: what we want
				}
			}
			errs[i] = fmt.Errorf("hubd read all %d MiB of an unauthenticated message", perConn>>20)
		}()
	}
	idle := dialWebsocket(t, h.Addrs.Web)
	if idle == nil {
		t.FailNow()
	}
	defer idle.Close()
	other.mustBeServed(t)
	wg.Wait()
	for i := range conns {
		if errs[i] != nil {
			t.Fatalf("websocket %d: %v", i, errs[i])
		}
	}
	idle.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatal("a websocket that sent nothing got data; want it closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a websocket that sent nothing is still open after a minute")
	}
	// Credentials that do not authenticate get a clear status, as a
	// gRPC-Web trailer, before any message is read.
	bogus := dialWebsocket(t, h.Addrs.Web)
	if bogus == nil {
		t.FailNow()
	}
	defer bogus.Close()
	bogus.SetDeadline(time.Now().Add(time.Minute))
	headers := "content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\nx-textile-api-key: bogus\r\n"
	if err := writeFrame(bogus, []byte(headers)); err != nil {
		t.Fatal(err)
	}
	if trailer := readUntil(t, bogus, "grpc-status"); !strings.Contains(trailer, "grpc-status: 16") {
		t.Fatalf("a call with a bogus API key got %q; want grpc-status 16 (Unauthenticated)", trailer)
	}

	h.alive(t)
	now, peak := h.rss(t)
	t.Logf("hubd's RSS %d MiB before, %d MiB after %d websockets started %d MiB messages (peak %d MiB); the most one wrote before it was closed (mostly into socket buffers): %d KiB",
		before>>20, now>>20, conns, perConn>>20, peak>>20, maxOf(sent)>>10)
	if grew := peak - before; grew > 128<<20 {
		t.Fatalf("hubd's peak RSS grew by %d MiB; want it bounded by the pre-authentication limit", grew>>20)
	}
	other.mustBeServed(t)
}

// dialWebsocket opens a gRPC-Web websocket (the grpc-websockets
// subprotocol) for a Listen and returns its connection after the upgrade.
func dialWebsocket(t *testing.T, addr string) net.Conn {
	return dialWebsocketTo(t, addr, threadspb.API_Listen_FullMethodName)
}

// dialWebsocketTo opens a gRPC-Web websocket for a call of method.
func dialWebsocketTo(t *testing.T, addr, method string) net.Conn {
	return dialWebsocketFrom(t, nil, addr, method)
}

// dialWebsocketFrom opens a gRPC-Web websocket for a call of method from
// the loopback address src (nil: the system's choice).
func dialWebsocketFrom(t *testing.T, src net.IP, addr, method string) net.Conn {
	var d net.Dialer
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial %s: %v", addr, err)
		return nil
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: grpc-websockets\r\n\r\n", method, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("websocket upgrade: %v %v", resp, err)
	}
	return c
}

// readUntil reads the server's websocket frames (unmasked, each short)
// until one holds want, and returns it.
func readUntil(t *testing.T, c net.Conn, want string) string {
	t.Helper()
	payload, err := frameWith(c, want)
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

// frameWith reads the server's websocket frames (unmasked, each short)
// until one holds want, and returns it.
func frameWith(c net.Conn, want string) (string, error) {
	br := bufio.NewReader(c)
	for {
		payload, err := readFrame(br)
		if err != nil {
			return "", fmt.Errorf("no frame with %q: %v", want, err)
		}
		if strings.Contains(string(payload), want) {
			return string(payload), nil
		}
	}
}

// readFrame reads one of the server's websocket frames (unmasked, under
// 64 KiB) and returns its payload.
func readFrame(br *bufio.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		return nil, fmt.Errorf("a frame of more than 64 KiB from hubd")
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return nil, err
	}
	return payload, nil
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// TestWebsocketIdle: an authenticated Listen over a websocket whose
// client goes silent (it neither sends nor reads) is closed after
// --web-idle-timeout, and its stream no longer counts against the
// user's cap: with a cap of one, the user can listen again.
//
// The Listen is known to be open, and counted, once it has delivered a
// change; only then does the test make a second Listen, which is refused
// (a second Listen made sooner could take the place first, on a busy
// machine). Until then the client pings, so that the idle timeout closes a
// websocket that is idle, never one that is still starting.
func TestWebsocketIdle(t *testing.T) {
	h := startHub(t, "--web-idle-timeout", "3s", "--max-streams-per-principal", "1")
	tn := newTenant(t, h, "mallory")
	id := tn.notesDB(t)

	c := dialWebsocket(t, h.Addrs.Web)
	if c == nil {
		t.FailNow()
	}
	defer c.Close()
	msg := webMessage(t, &threadspb.ListenRequest{DbID: id.Bytes()})
	// The headers, the request, and the end of what the client sends.
	for _, m := range [][]byte{webHeaders(tn.User), msg, {1}} {
		if err := writeFrame(c, m); err != nil {
			t.Fatal(err)
		}
	}
	stopPings := pingUntilStopped(t, c)
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	heard := make(chan error, 1)
	go func() {
		_, err := frameWith(c, "idle-probe")
		heard <- err
	}()
	for open := false; !open; {
		if _, err := tn.Threads.Create(tn.User, id, "notes", json.RawMessage(`{"text":"idle-probe"}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-heard:
			if err != nil {
				t.Fatalf("the websocket Listen delivered no change: %v", err)
			}
			open = true
		case <-time.After(200 * time.Millisecond):
		}
	}
	lctx, cancel := context.WithTimeout(tn.User, time.Minute)
	err := tn.Threads.Listen(lctx, id, nil, 0, func(threadsclient.ListenEvent) error { return nil })
	cancel()
	if !errors.Is(errors.Exhausted, err) {
		t.Fatalf("a second Listen beside the websocket's, with a cap of one: %v; want Exhausted", err)
	}
	stopPings()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.Copy(io.Discard, c); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a silent websocket is still open after a minute")
		}
	}
	// Its slot is free again.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		lctx, cancel := context.WithTimeout(tn.User, 2*time.Second)
		err := tn.Threads.Listen(lctx, id, nil, 0, func(threadsclient.ListenEvent) error { return nil })
		cancel()
		if errors.Is(errors.DeadlineExceeded, err) {
			break // admitted, and listened until the deadline
		}
		if time.Now().After(deadline) {
			t.Fatalf("the user cannot listen after the silent websocket was closed: %v", err)
		}
	}
	h.alive(t)
}

// pingUntilStopped sends a websocket ping on c every 100 ms, which hubd
// reads (and answers), so that c is not idle, until the function it
// returns is called; that function returns once the pings have stopped.
func pingUntilStopped(t *testing.T, c net.Conn) (stop func()) {
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			// An empty ping, masked with a zero key.
			if _, err := c.Write([]byte{0x89, 0x80, 0, 0, 0, 0}); err != nil {
				t.Errorf("ping the websocket: %v", err)
				return
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() {
		close(quit)
		<-stopped
	}
}

// webHeaders is the first message of a gRPC-Web websocket: the call's
// headers, with the credentials ctx carries.
func webHeaders(ctx context.Context) []byte {
	md, _ := metadata.FromOutgoingContext(ctx)
	headers := "content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n"
	for k, vs := range md {
		for _, v := range vs {
			headers += k + ": " + v + "\r\n"
		}
	}
	return []byte(headers)
}

// webMessage is m as a gRPC-Web websocket message: a control byte (0:
// data), then the gRPC length prefix and m.
func webMessage(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	msg := append([]byte{0, 0, 0, 0, 0, 0}, b...)
	binary.BigEndian.PutUint32(msg[2:6], uint32(len(b)))
	return msg
}

// startFrame starts a masked (with a zero key) binary websocket frame
// that announces n bytes, and sends none of them.
func startFrame(c net.Conn, n uint64) error {
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(hdr[2:10], n)
	_, err := c.Write(hdr)
	return err
}

// writeFrame writes p as one masked (with a zero key) binary websocket
// frame.
func writeFrame(c net.Conn, p []byte) error {
	hdr := []byte{0x82}
	switch {
	case len(p) < 126:
		hdr = append(hdr, 0x80|byte(len(p)))
	case len(p) < 1<<16:
		hdr = append(hdr, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		hdr = append(hdr, 0x80|127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(hdr[2:], uint64(len(p)))
	}
	_, err := c.Write(append(append(hdr, 0, 0, 0, 0), p...))
	return err
}
