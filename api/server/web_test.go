package server

import (
	"testing"
	"time"

	"github.com/selfhub/hub/errors"
)

// endless is a request body that always has more to read.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }
func (endless) Close() error               { return nil }

// TestGuardWindow: gRPC's reader gets a window ahead of the handler and
// then waits; what the handler consumes lets it read as much more; the
// window always holds one whole message; the end of the call releases a
// waiting reader.
func TestGuardWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		window int
	}{
		{"window", Limits{WebWindow: 64 << 10, MaxMessageSize: 1 << 10}, 64 << 10},
		{"at least one message", Limits{WebWindow: 1, MaxMessageSize: 1 << 10}, 1<<10 + grpcPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(tc.limits, newRecvAccount(newRecvBudget(1<<30, 1<<30, time.Hour), ""))
			body := &windowedBody{ReadCloser: endless{}, g: g}
			total := make(chan int, 1)
			ended := make(chan error, 1)
			go func() {
				n := 0
				buf := make([]byte, 1000)
				for {
					k, err := body.Read(buf)
					n += k
					if err != nil {
						total <- n
						ended <- err
						return
					}
				}
			}()
			waitAhead(t, g, tc.window)
			g.consumed(1000)
			waitAhead(t, g, tc.window)
			body.Close()
			if n := <-total; n != tc.window+1000 {
				t.Errorf("the reader read %d bytes; want the window %d plus the 1000 consumed", n, tc.window)
			}
			if err := <-ended; !errors.Is(errors.Canceled, err) {
				t.Errorf("the reader waiting at the end of the call got %v; want Canceled", err)
			}
		})
	}
}

// waitAhead waits until the reader waits for room with want bytes ahead
// of the handler, failing if it reads more.
func waitAhead(t *testing.T, g *guard, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		g.mu.Lock()
		ahead, waiting := g.ahead, g.waiting
		g.mu.Unlock()
		if ahead > want {
			t.Fatalf("the reader is %d bytes ahead of the handler; want at most %d", ahead, want)
		}
		if waiting && ahead == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reader is %d bytes ahead (waiting %v); want it waiting at %d", ahead, waiting, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGuardIdle: when a websocket's idle timer fires while gRPC waits for
// the handler, the websocket stays open if the handler is busy, and is
// closed if the handler waits to send to a client that reads nothing.
func TestGuardIdle(t *testing.T) {
	for _, tc := range []struct {
		name       string
		waiting    bool
		writes     int
		wantClosed bool
	}{
		{"nothing moves", false, 0, true},
		{"the handler is busy", true, 0, false},
		{"the client reads nothing", true, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(Limits{WebIdleTimeout: time.Hour}, newRecvAccount(newRecvBudget(1<<30, 1<<30, time.Hour), ""))
			g.idle = time.NewTimer(time.Hour)
			defer g.stop()
			g.waiting, g.writes = tc.waiting, tc.writes
			closed := false
			g.idleOut(func() { closed = true })()
			if closed != tc.wantClosed {
				t.Errorf("closed %v; want %v", closed, tc.wantClosed)
			}
		})
	}
}
