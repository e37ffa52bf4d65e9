package abuse

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWebsocketLogFlood: websockets whose first message is cut at the
// pre-authentication budget make the gRPC-Web wrapper log what they sent
// (64 KiB, printed as decimal bytes). hubd clips each such line and limits
// how many it writes, so opening connections cannot fill its disk; another
// tenant is served throughout.
func TestWebsocketLogFlood(t *testing.T) {
	const (
		conns   = 40
		lineMax = 512 + 64 // the clip, and the note of what was cut
	)
	h := startHub(t, "--handshake-timeout", "2s")
	other := newTenant(t, h, "alice")
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialWebsocket(t, h.Addrs.Web)
			if c == nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			// A frame announcing 1 MiB, of which 128 KiB are sent: more
			// than the pre-authentication budget.
			startFrame(c, 1<<20)
			c.Write(make([]byte, 128<<10))
			c.Read(make([]byte, 1)) // until hubd closes it
		}()
	}
	other.mustBeServed(t)
	wg.Wait()

	// The wrapper's lines come through hubd's own (JSON) log; collect them
	// until one has come and then until none comes for a second.
	var lines []string
	deadline := time.Now().Add(time.Minute)
	quiet := time.NewTimer(time.Minute)
	defer quiet.Stop()
collect:
	for {
		select {
		case rec := <-h.Logs:
			if rec["from"] != "grpc" {
				continue
			}
			msg, _ := rec["msg"].(string)
			lines = append(lines, msg)
			quiet.Reset(time.Second)
		case <-quiet.C:
			break collect
		case <-time.After(time.Until(deadline)):
			break collect
		}
	}
	took := time.Since(start)
	var failed int
	for _, l := range lines {
		if len(l) > lineMax {
			t.Fatalf("hubd logged a gRPC line of %d bytes; want at most %d: %.200s…", len(l), lineMax, l)
		}
		if strings.Contains(l, "first websocket message") {
			failed++
		}
	}
	if failed == 0 {
		t.Fatalf("no gRPC-Web line about the cut first messages reached hubd's log (%d gRPC lines): the wrapper's log is not routed", len(lines))
	}
	// At most the burst and the steady rate over the attack, and fewer
	// than one a connection while the attack is quicker than that.
	if most := 20 + int(5*took.Seconds()) + 1; len(lines) > most {
		t.Fatalf("hubd logged %d gRPC lines in %v; want at most %d", len(lines), took, most)
	}
	t.Logf("%d websockets cut at the budget: %d gRPC lines logged in %v, the longest clipped to at most %d bytes", conns, len(lines), took, lineMax)
	h.alive(t)
	other.mustBeServed(t)
}
