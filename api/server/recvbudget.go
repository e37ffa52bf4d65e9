package server

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// recvBudget is the hub-wide budget of request bytes hubd holds for
// messages it has begun to receive and not yet handed to a handler, on
// plain gRPC (recvconn.go) and gRPC-Web (web.go) alike. The gRPC library
// buffers a whole message before the handler sees it, and lets a client
// send as much of it as its length prefix announces (up to
// --max-message-size) as soon as the handler asks for the next message;
// a client that announces large messages on many calls and never finishes
// them would otherwise hold that much per call. Each remote source (an
// IPv4 address or an IPv6 /64, see source) may hold at most perSource of
// the budget, so that one host cannot take it all from the others.
//
// Bytes wait for room rather than fail: a reader that cannot take them
// stops reading its connection, and TCP pushes back on the client. A
// reader that waits longer than wait gives up (see recvConn.read).
type recvBudget struct {
	total, perSource int64
	wait             time.Duration

	mu       sync.Mutex
	used     int64            // bytes held hub-wide; guarded by mu
	bySource map[string]int64 // bytes held per source; guarded by mu
	peak     int64            // the most bytes ever held hub-wide; guarded by mu
	// freed is closed, and replaced, whenever bytes are given back, to
	// wake the readers waiting for room; guarded by mu.
	freed chan struct{}
}

func newRecvBudget(total, perSource int64, wait time.Duration) *recvBudget {
	return &recvBudget{total: total, perSource: perSource, wait: wait, bySource: map[string]int64{}, freed: make(chan struct{})}
}

// take charges n bytes to src, waiting up to b.wait for room within both
// the hub's budget and src's share, or until gone is closed. It reports
// whether it charged them.
func (b *recvBudget) take(src string, n int64, gone <-chan struct{}) bool {
	var timeout <-chan time.Time
	b.mu.Lock()
	for b.used+n > b.total || b.bySource[src]+n > b.perSource {
		freed := b.freed
		b.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(b.wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-freed:
		case <-timeout:
			return false
		case <-gone:
			return false
		}
		b.mu.Lock()
	}
	b.used += n
	b.bySource[src] += n
	b.peak = max(b.peak, b.used)
	b.mu.Unlock()
	return true
}

// give returns n bytes charged to src.
func (b *recvBudget) give(src string, n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.bySource[src] -= n; b.bySource[src] <= 0 {
		delete(b.bySource, src)
	}
	close(b.freed)
	b.freed = make(chan struct{})
}

// held returns the bytes held now and the most ever held, hub-wide.
func (b *recvBudget) held() (now, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}

// recvAccount is what one gRPC connection, or one gRPC-Web call, holds
// of the budget: its first streamWindow bytes are free, so that while the
// budget is full, calls with small messages go on (connections are
// capped, --max-conns), and the budget pays for the rest.
type recvAccount struct {
	budget *recvBudget
	src    string
	gone   chan struct{} // closed by close, to end a wait for room

	mu     sync.Mutex
	held   int64 // guarded by mu
	closed bool  // guarded by mu
}

func newRecvAccount(b *recvBudget, src string) *recvAccount {
	return &recvAccount{budget: b, src: src, gone: make(chan struct{})}
}

// over is the part of held bytes the budget pays for.
func over(held int64) int64 { return max(held-streamWindow, 0) }

// add holds n more bytes, waiting for room in the budget; it reports
// false if none came in time, or the account was closed. Only one
// goroutine adds at a time; others may remove meanwhile.
func (a *recvAccount) add(n int64) bool {
	a.mu.Lock()
	need := over(a.held+n) - over(a.held)
	a.mu.Unlock()
	if need > 0 && !a.budget.take(a.src, need, a.gone) {
		return false
	}
	a.mu.Lock()
	back := need
	ok := !a.closed
	if ok {
		// What was removed while this waited may leave less to pay.
		back = need - (over(a.held+n) - over(a.held))
		a.held += n
	}
	a.mu.Unlock()
	a.budget.give(a.src, back)
	return ok
}

// remove gives back n bytes held.
func (a *recvAccount) remove(n int64) {
	a.mu.Lock()
	back := int64(0)
	if !a.closed {
		back = over(a.held) - over(a.held-n)
		a.held -= n
	}
	a.mu.Unlock()
	a.budget.give(a.src, back)
}

// close gives back everything held and refuses more.
func (a *recvAccount) close() {
	a.mu.Lock()
	back := int64(0)
	if !a.closed {
		a.closed = true
		close(a.gone)
		back = over(a.held)
		a.held = 0
	}
	a.mu.Unlock()
	a.budget.give(a.src, back)
}

// register exports what the budget holds, now and at its peak, at
// /metrics.
func (b *recvBudget) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hub_receive_memory_bytes",
			Help: "Bytes of request messages received and not yet taken by their handlers, charged to --max-receive-memory.",
		}, func() float64 { now, _ := b.held(); return float64(now) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hub_receive_memory_peak_bytes",
			Help: "The most bytes hub_receive_memory_bytes has been since hubd started.",
		}, func() float64 { _, peak := b.held(); return float64(peak) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
