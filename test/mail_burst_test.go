package test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	threadsclient "github.com/selfhub/hub/client/threads"
	usersclient "github.com/selfhub/hub/client/users"
)

// burstSize is how many messages TestMailBurst sends. The issue asks for
// 10,000; the race detector slows the hub about tenfold, and 10,000 under
// -race (as make test runs) takes minutes, so race builds send 2,000, which
// still runs every sender, the watcher and the paging concurrently.
func burstSize() int {
	if raceEnabled {
		return 2000
	}
	return 10000
}

// burstSenders is how many users of the app send the burst at once. Each
// sends burstSize/burstSenders messages, within the hub's default
// per-sender burst (mail.DefaultBurst, 1,000), so the default limits let
// the whole burst through.
const burstSenders = 20

// A burst of messages from many users of one app to one inbox while a
// watcher (a ThreadDB Listen on the inbox, as watchInbox is) runs: the
// watcher sees every message exactly once, and paging through the inbox
// with seek lists every one, once, in order.
func TestMailBurst(t *testing.T) {
	n := burstSize()
	h, uc, us := mailWorld(t, nil, burstSenders+1)
	bob, senders := us[0], us[1:]
	box, err := uc.SetupMailbox(bob.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range senders {
		if _, err := uc.SetupMailbox(s.ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()

	// The watcher counts each message it sees.
	ctx, cancel := context.WithTimeout(bob.ctx, 15*time.Minute)
	defer cancel()
	var (
		mu   sync.Mutex
		seen = map[string]int{} // guarded by mu: events per message ID
		more = make(chan struct{}, 1)
	)
	watchErr := make(chan error, 1)
	go func() {
		filters := []threadsclient.ListenFilter{{Collection: "inbox"}}
		watchErr <- threadsclient.New(h.Conn).Listen(ctx, box, filters, 0, func(ev threadsclient.ListenEvent) error {
			if ev.Action != threadsclient.ActionCreate {
				return fmt.Errorf("event %v on %s; the burst only creates", ev.Action, ev.InstanceID)
			}
			mu.Lock()
			seen[ev.InstanceID]++
			mu.Unlock()
			select {
			case more <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	seenCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	// wait waits for the watcher to have seen want messages, or fails.
	wait := func(want int, within time.Duration) bool {
		deadline := time.After(within)
		for seenCount() < want {
			select {
			case <-more:
			case err := <-watchErr:
				t.Fatalf("the watcher stopped after %d messages: %v", seenCount(), err)
			case <-deadline:
				return false
			}
		}
		return true
	}

	// The Listen call returns no sign that the server has taken its
	// position, so send markers until the watcher sees one: every message
	// after that must reach it.
	markers := map[string]bool{}
	for placed := false; !placed; {
		m, err := usersclient.Send(senders[0].ctx, uc, senders[0].priv, bob.priv.GetPublic(), []byte("marker"))
		if err != nil {
			t.Fatal(err)
		}
		markers[m.ID] = true
		placed = wait(1, 200*time.Millisecond)
	}
	mu.Lock()
	for id := range seen {
		if !markers[id] {
			t.Fatalf("the watcher saw %s, which nobody sent yet", id)
		}
	}
	// The markers seen so far: those sent before the server placed the
	// watcher are never seen, and must not be counted.
	base := len(seen)
	mu.Unlock()
	placedAt := time.Now()

	var (
		sentMu sync.Mutex
		sent   = map[string]bool{} // guarded by sentMu
		wg     sync.WaitGroup
	)
	for w, s := range senders {
		wg.Go(func() {
			for i := range n / burstSenders {
				m, err := usersclient.Send(s.ctx, uc, s.priv, bob.priv.GetPublic(), fmt.Appendf(nil, "%d-%d", w, i))
				if err != nil {
					t.Errorf("sender %d, message %d: %v", w, i, err)
					return
				}
				sentMu.Lock()
				sent[m.ID] = true
				sentMu.Unlock()
			}
		})
	}
	wg.Wait()
	sendTime := time.Since(placedAt)
	if t.Failed() {
		t.FailNow()
	}
	if len(sent) != n {
		t.Fatalf("%d messages sent, want %d", len(sent), n)
	}
	if !wait(base+n, 5*time.Minute) {
		t.Fatalf("the watcher saw %d of the %d messages sent after it was placed", seenCount()-base, n)
	}
	watchTime := time.Since(placedAt)
	// Anything after the last message would be a duplicate or a stranger;
	// give it a moment to show before the counts are checked.
	if wait(base+n+1, 200*time.Millisecond) {
		t.Errorf("the watcher saw more messages than were sent")
	}
	mu.Lock()
	for id, c := range seen {
		if c != 1 {
			t.Errorf("the watcher saw %s %d times", id, c)
		}
		if !sent[id] && !markers[id] {
			t.Errorf("the watcher saw %s, which nobody sent", id)
		}
	}
	for id := range sent {
		if seen[id] == 0 {
			t.Errorf("message %s was sent but never seen", id)
		}
	}
	mu.Unlock()

	// Page through the inbox, oldest first, at the default page size.
	pageStart := time.Now()
	listed := map[string]bool{}
	var last int64
	pages := 0
	for opts := (usersclient.ListOptions{Ascending: true}); ; pages++ {
		page, err := uc.ListInboxMessages(bob.ctx, opts)
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			if listed[m.ID] {
				t.Fatalf("page %d lists %s again", pages, m.ID)
			}
			if m.CreatedAt <= last {
				t.Fatalf("page %d: %s created at %d, not after the one before it (%d)", pages, m.ID, m.CreatedAt, last)
			}
			listed[m.ID], last = true, m.CreatedAt
		}
		opts.Seek = page[len(page)-1].ID
	}
	if len(listed) != n+len(markers) {
		t.Errorf("paging listed %d messages, want %d", len(listed), n+len(markers))
	}
	for id := range sent {
		if !listed[id] {
			t.Errorf("message %s is not listed", id)
		}
	}
	t.Logf("%d messages from %d senders: sent in %v (%.0f/s), all watched after %v; %d pages listed in %v; whole test %v",
		n, burstSenders, sendTime.Round(time.Millisecond), float64(n)/sendTime.Seconds(), watchTime.Round(time.Millisecond),
		pages, time.Since(pageStart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
