package abuse

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
)

// TestHeldMessages attacks hubd with calls that never finish their
// request: from eight addresses, sign-ins (which need only an app's
// public key), write transactions, bucket pushes and unary writes each
// announce a 4 MiB message (--max-message-size) and send all of it but the
// last byte. gRPC buffers a message whole before its handler sees it, so
// each such call held 4 MiB until --max-receive-memory: a gigabyte here
// (hubd grew from 68 to 1136 MiB). Now hubd holds no more than its budget
// (and a window per connection), the connections that wait too long for
// room are told why and closed, and another tenant is served throughout.
func TestHeldMessages(t *testing.T) {
	const (
		budget   = 96 << 20
		perIP    = 16 << 20
		sources  = 8
		perSrc   = 32 // attackers from each address: 8 × 32 × 4 MiB = 1 GiB
		msgSize  = 4 << 20
		frameLen = 16 << 10
	)
	h := startHub(t, "--max-receive-memory", strconv.Itoa(budget), "--max-receive-memory-per-ip", strconv.Itoa(perIP),
		"--receive-wait", "3s", "--max-signins-per-ip", strconv.Itoa(perSrc), "--signin-timeout", "10m")
	tn, mallory := newTenant(t, h, "alice"), newTenant(t, h, "mallory")
	tn.mustBeServed(t)
	db, err := mallory.Threads.NewDB(mallory.User, "", threadsclient.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Each call's first message: the prefix of one of msgSize bytes.
	opening := binary.BigEndian.AppendUint32([]byte{0}, msgSize)
	body := bytes.Repeat([]byte{'s'}, frameLen)
	type call struct {
		method string
		creds  context.Context
	}
	// One identity's streams are capped (--max-streams-per-principal):
	// the attackers from each address sign in as an identity of their
	// own.
	user := func() context.Context { u, _ := mallory.newUser(t); return u }
	calls := []call{
		{threadspb.API_GetToken_FullMethodName, testhub.WithKey(t, mallory.AppKey)},
		{threadspb.API_WriteTransaction_FullMethodName, user()},
		{bucketsdpb.APIService_PushPath_FullMethodName, client.WithThread(user(), db.String())},
		{threadspb.API_Create_FullMethodName, user()},
		{threadspb.API_GetToken_FullMethodName, testhub.WithKey(t, mallory.AppKey)},
		{threadspb.API_WriteTransaction_FullMethodName, user()},
		{bucketsdpb.APIService_PushPath_FullMethodName, client.WithThread(user(), db.String())},
		{threadspb.API_Create_FullMethodName, user()},
	}
	base, _ := h.rss(t)

	type outcome struct {
		goAway string // the GOAWAY hubd closed the connection with, if it was read
		err    error  // why sending stopped; nil: all but the last byte went out
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		outcomes []outcome
		conns    []*h2conn
	)
	attack := func(src net.IP, cl call) {
		defer wg.Done()
		c := dialH2From(t, src, h.Addrs.API)
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		o := func() outcome {
			c.call(1, cl.method, cl.creds, nil)
			if err := c.fr.WriteData(1, false, opening); err != nil {
				return outcome{err: err}
			}
			// The handler asks for the announced message: hubd opens the
			// stream's window to it.
			deadline := time.Now().Add(2 * time.Minute)
			for {
				f, err := c.next(deadline)
				if err != nil {
					return outcome{err: err}
				}
				if w, ok := f.(*http2.WindowUpdateFrame); ok && w.StreamID == 1 && w.Increment >= msgSize/2 {
					break
				}
			}
			c.c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
			for left := msgSize - 1; left > 0; left -= frameLen {
				if err := c.fr.WriteData(1, false, body[:min(left, frameLen)]); err != nil {
					// Closed by hubd: find its GOAWAY, if the socket still has it.
					for {
						f, rerr := c.next(time.Now().Add(10 * time.Second))
						if rerr != nil {
							return outcome{err: err}
						}
						if g, ok := f.(*http2.GoAwayFrame); ok {
							return outcome{goAway: string(g.DebugData()), err: err}
						}
					}
				}
			}
			return outcome{}
		}()
		mu.Lock()
		outcomes = append(outcomes, o)
		mu.Unlock()
	}
	for i := range sources {
		src := net.IPv4(127, 0, 0, byte(2+i))
		for range perSrc {
			wg.Add(1)
			go attack(src, calls[i])
		}
	}

	wg.Wait()
	var told, closed int
	for _, o := range outcomes {
		switch {
		case o.goAway != "":
			told++
			if !bytes.Contains([]byte(o.goAway), []byte("--max-receive-memory")) {
				t.Errorf("an attacker's connection was closed with GOAWAY %q; want it to name --max-receive-memory", o.goAway)
			}
		case o.err != nil:
			closed++
		}
	}
	t.Logf("of %d attackers, %d were closed with GOAWAY, %d closed without", sources*perSrc, told, closed)
	if told == 0 {
		t.Errorf("no attacker was told why hubd closed its connection (GOAWAY)")
	}
	heldWithinBudget(t, h, tn, base, budget, sources*perSrc)
	for _, c := range conns {
		c.c.Close()
	}
}

// heldWithinBudget checks hubd once attackers hold what they could of
// its receive budget: they fill most of it, a well-behaved tenant is
// served (its small messages within its connection's allowance), hubd
// never held more than the budget, and its resident memory grew by no
// more than twice the budget (Go's collector lets the heap grow to twice
// what is live before it collects), what each attacker's connection costs
// beside it (a window, the allowance, buffers and goroutines: 256 KiB),
// and 64 MiB of slack. Unbounded, the attacks here grow it by 700 MiB
// and more.
func heldWithinBudget(t *testing.T, h *target, tn *tenant, base int64, budget, conns int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for metric(t, h, "hub_receive_memory_bytes") < budget*3/4 {
		if time.Now().After(deadline) {
			t.Fatalf("the attackers hold %d bytes of hubd's receive budget; want most of its %d", metric(t, h, "hub_receive_memory_bytes"), budget)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tn.mustBeServed(t)
	h.alive(t)
	now, peak := h.rss(t)
	held, heldPeak := metric(t, h, "hub_receive_memory_bytes"), metric(t, h, "hub_receive_memory_peak_bytes")
	t.Logf("hubd RSS: %d MiB before the attack, %d MiB after, peak %d MiB; receive budget %d MiB, %d MiB held, peak %d MiB",
		base>>20, now>>20, peak>>20, budget>>20, held>>20, heldPeak>>20)
	if heldPeak > budget {
		t.Errorf("hubd held %d bytes of incoming messages at its peak; the budget is %d", heldPeak, budget)
	}
	if bound := base + 2*int64(budget) + int64(conns)*(256<<10) + 64<<20; peak > bound {
		t.Errorf("hubd's peak RSS is %d MiB; want at most %d MiB (%d before the attack, twice the %d MiB budget, the connections and slack)", peak>>20, bound>>20, base>>20, budget>>20)
	}
}

// TestHeldWebMessages is TestHeldMessages over gRPC-Web websockets, as
// the JavaScript clients call: the websocket library reads a message
// whole before gRPC-Web hands it on, so each websocket that announces a
// 4 MiB message and sends all of it but the last byte held 4 MiB, beside
// what gRPC held ahead of its handler (--web-window). hubd charges both
// to its receive budget, closes the websockets that wait too long for
// room, and serves another tenant throughout.
func TestHeldWebMessages(t *testing.T) {
	const (
		budget   = 64 << 20
		perIP    = 16 << 20
		sources  = 8
		perSrc   = 16 // 8 × 16 × 4 MiB = 512 MiB
		msgSize  = 4 << 20
		frameLen = 16 << 10
	)
	h := startHub(t, "--max-receive-memory", strconv.Itoa(budget), "--max-receive-memory-per-ip", strconv.Itoa(perIP),
		"--receive-wait", "3s", "--signin-timeout", "10m", "--web-idle-timeout", "10m")
	tn, mallory := newTenant(t, h, "alice"), newTenant(t, h, "mallory")
	tn.mustBeServed(t)
	calls := []struct {
		method string
		creds  context.Context
	}{
		{threadspb.API_GetToken_FullMethodName, testhub.WithKey(t, mallory.AppKey)},
		{threadspb.API_WriteTransaction_FullMethodName, nil},
	}
	base, _ := h.rss(t)

	// gRPC-Web's data byte and the gRPC prefix of a msgSize message.
	opening := binary.BigEndian.AppendUint32([]byte{0, 0}, msgSize)
	body := bytes.Repeat([]byte{'s'}, frameLen)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed int
	)
	for i := range sources {
		src := net.IPv4(127, 0, 0, byte(2+i))
		cl := calls[i%len(calls)]
		if cl.creds == nil {
			cl.creds, _ = mallory.newUser(t)
		}
		for range perSrc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := dialWebsocketFrom(t, src, h.Addrs.Web, cl.method)
				if c == nil {
					return
				}
				t.Cleanup(func() { c.Close() })
				c.SetWriteDeadline(time.Now().Add(2 * time.Minute))
				err := writeFrame(c, webHeaders(cl.creds))
				if err == nil {
					err = startFrame(c, uint64(len(opening)+msgSize))
				}
				if err == nil {
					_, err = c.Write(opening)
				}
				for left := msgSize - 1; left > 0 && err == nil; left -= frameLen {
					_, err = c.Write(body[:min(left, frameLen)])
				}
				if err != nil {
					mu.Lock()
					closed++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("of %d attackers, %d had their websocket closed", sources*perSrc, closed)
	if closed == 0 {
		t.Errorf("hubd closed no attacker's websocket; want those past the budget closed")
	}
	heldWithinBudget(t, h, tn, base, budget, sources*perSrc)
}

// TestSlowMessage: a call that begins a message and never finishes it
// keeps what it holds of the receive budget from everyone, so hubd closes
// its connection --message-timeout after the message's first frame, with
// a GOAWAY that says why, while a tenant whose messages arrive whole is
// served.
func TestSlowMessage(t *testing.T) {
	h := startHub(t, "--message-timeout", "3s")
	tn, mallory := newTenant(t, h, "alice"), newTenant(t, h, "mallory")
	c := dialH2(t, h.Addrs.API)
	c.call(1, threadspb.API_Create_FullMethodName, mallory.User, nil)
	// The prefix of a 1 MiB request and 32 KiB of it, within the stream's
	// first window; then nothing.
	first := append(binary.BigEndian.AppendUint32([]byte{0}, 1<<20), make([]byte, 16<<10-5)...) // a frame holds 16 KiB
	if err := c.fr.WriteData(1, false, first); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteData(1, false, make([]byte, 16<<10)); err != nil {
		t.Fatal(err)
	}
	tn.mustBeServed(t)
	g := c.goAway(time.Now().Add(2 * time.Minute))
	if !bytes.Contains(g.DebugData(), []byte("--message-timeout")) || g.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("hubd closed the slow message's connection with %v %q; want ENHANCE_YOUR_CALM naming --message-timeout", g.ErrCode, g.DebugData())
	}
	c.closed(time.Now().Add(2 * time.Minute))
	tn.mustBeServed(t)
	h.alive(t)
}
