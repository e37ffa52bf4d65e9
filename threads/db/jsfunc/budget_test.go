package jsfunc

import (
	"context"
	"testing"
	"time"
)

// TestBudget: a tenant gets at most perTenant places and the hub at most
// all; a caller waits for a place only as long as it was told and while
// its context lasts; places come back, and a tenant with no calls leaves
// nothing behind.
func TestBudget(t *testing.T) {
	b := newBudget(1, 2)
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
	got := make(chan error, 1)
	go func() {
		release, err := b.acquire(ctx, "a", time.Minute)
		if err == nil {
			release()
		}
		got <- err
	}()
	releaseA()
	if err := <-got; err != nil {
		t.Fatalf("a's waiting call: %v", err)
	}
	releaseB()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.tenants) != 0 || len(b.all) != 0 {
		t.Fatalf("after every call: %d tenants, %d places held", len(b.tenants), len(b.all))
	}
}
