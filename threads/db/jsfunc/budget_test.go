package jsfunc

import (
	"context"
	"testing"
	"time"
)

// testBudget is a budget whose clock moves only when the test moves it.
type testBudget struct {
	*budget
	clock time.Time
}

func newTestBudget(perTenant, all int, share float64, window time.Duration) *testBudget {
	tb := &testBudget{budget: newBudget(perTenant, all, share, window), clock: time.Unix(1e9, 0)}
	tb.now = func() time.Time { return tb.clock }
	return tb
}

// advance moves the clock on by d.
func (tb *testBudget) advance(d time.Duration) {
	tb.mu.Lock()
	tb.clock = tb.clock.Add(d)
	tb.mu.Unlock()
}

// TestBudget: a tenant gets at most perTenant places and the hub at most
// all; a caller waits for a place only as long as it was told and while
// its context lasts; places come back.
func TestBudget(t *testing.T) {
	b := newTestBudget(1, 2, 1, time.Second)
	ctx := context.Background()
	const wait = 20 * time.Millisecond
	releaseA, err := b.acquire(ctx, "a", wait)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(ctx, "a", wait); err != errTenantBusy {
		t.Fatalf("a's second call: %v, want errTenantBusy", err)
	}
	releaseB, err := b.acquire(ctx, "b", wait)
	if err != nil {
		t.Fatalf("b, while a runs: %v", err)
	}
	if _, err := b.acquire(ctx, "c", wait); err != errHubBusy {
		t.Fatalf("c, with the hub full: %v, want errHubBusy", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.acquire(canceled, "a", time.Minute); err != context.Canceled {
		t.Fatalf("canceled while waiting: %v", err)
	}

	// A waiting call gets the place a running one gives back.
	got := acquireLater(b, "a")
	waitFor(t, b, 1)
	releaseA(0)
	if err := <-got; err != nil {
		t.Fatalf("a's waiting call: %v", err)
	}
	releaseB(0)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running != 0 || len(b.waiters) != 0 {
		t.Fatalf("after every call: %d places held, %d waiting", b.running, len(b.waiters))
	}
}

// TestBudgetShare: a tenant that used more than its share waits, and is
// refused when its use stays over it for the whole wait; it gets in again
// once its use has decayed under the share; and an idle tenant is
// forgotten once its use is next to nothing.
func TestBudgetShare(t *testing.T) {
	// Half a core over a second: a tenant may start calls while its
	// decayed use is under 0.5 s.
	b := newTestBudget(1, 4, 0.5, time.Second)
	ctx := context.Background()
	release, err := b.acquire(ctx, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b.advance(time.Second) // a call that used a second: use 1 s
	release(time.Second)
	if _, err := b.acquire(ctx, "a", 20*time.Millisecond); err != errTenantShare {
		t.Fatalf("a, over its share: %v, want errTenantShare", err)
	}
	if release, err := b.acquire(ctx, "b", 20*time.Millisecond); err != nil {
		t.Fatalf("b, while a is over its share: %v", err)
	} else {
		release(0)
	}
	// 1 s decays to 0.5 s in ln 2 seconds.
	b.advance(700 * time.Millisecond)
	release, err = b.acquire(ctx, "a", 20*time.Millisecond)
	if err != nil {
		t.Fatalf("a, back under its share: %v", err)
	}
	release(0)

	// A waiting tenant over its share gets in when its use falls under it,
	// without anyone's release to wake it.
	b.mu.Lock()
	b.tenants["a"].used = 0.6
	b.mu.Unlock()
	got := acquireLater(b, "a")
	waitFor(t, b, 1)
	b.advance(time.Second)
	if err := <-got; err != nil {
		t.Fatalf("a, waiting while its use decays: %v", err)
	}

	// A wait that ends after the tenant's use fell under its share, but
	// before the timer that lets it in (here 2.3 s away) fires, gets the
	// place: the hub is empty, and the tenant under its share.
	b.mu.Lock()
	b.tenants["a"].used = 5
	b.mu.Unlock()
	waited := make(chan error, 1)
	go func() {
		release, err := b.acquire(ctx, "a", 50*time.Millisecond)
		if err == nil {
			release(0)
		}
		waited <- err
	}()
	waitFor(t, b, 1)
	b.advance(10 * time.Second)
	if err := <-waited; err != nil {
		t.Fatalf("a, whose wait ended after its use fell under its share: %v", err)
	}

	b.advance(10 * time.Second)
	b.mu.Lock()
	b.prune(b.now())
	n := len(b.tenants)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("after ten idle windows the budget still holds %d tenants", n)
	}
}

// TestBudgetFairness: when places are short, the waiting call of the
// tenant that used the least goes first, whoever came first.
func TestBudgetFairness(t *testing.T) {
	b := newTestBudget(1, 1, 1, time.Second)
	ctx := context.Background()
	// heavy used 0.8 s lately; it stays under its share of 1 s.
	release, err := b.acquire(ctx, "heavy", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b.advance(800 * time.Millisecond)
	release(800 * time.Millisecond)

	holder, err := b.acquire(ctx, "holder", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	for i, name := range []string{"heavy", "light"} {
		go func() {
			release, err := b.acquire(ctx, name, time.Minute)
			if err != nil {
				order <- err.Error()
				return
			}
			order <- name
			release(0)
		}()
		waitFor(t, b, i+1) // heavy waits first
	}
	holder(0)
	if first, second := <-order, <-order; first != "light" || second != "heavy" {
		t.Fatalf("places went to %s, then %s; want light first", first, second)
	}
}

// acquireLater acquires a place for tenant on a goroutine, waiting up to
// a minute, gives it back at once and sends acquire's error.
func acquireLater(b *testBudget, tenant string) <-chan error {
	got := make(chan error, 1)
	go func() {
		release, err := b.acquire(context.Background(), tenant, time.Minute)
		if err == nil {
			release(0)
		}
		got <- err
	}()
	return got
}

// waitFor waits until n calls wait for a place.
func waitFor(t *testing.T, b *testBudget, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		b.mu.Lock()
		got := len(b.waiters)
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls wait for a place, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
