package server

import (
	"testing"
	"time"
)

// TestRecvBudget checks the budget's two bounds: a source past its share
// waits while another source is still served, a wait ends as soon as
// bytes are given back, and one that finds no room gives up.
func TestRecvBudget(t *testing.T) {
	b := newRecvBudget(100, 60, time.Hour)
	if !b.take("a", 60, nil) {
		t.Fatal("a could not take its share")
	}
	if !b.take("b", 40, nil) {
		t.Fatal("b could not take the rest")
	}
	got := make(chan bool)
	go func() { got <- b.take("b", 10, nil) }()
	select {
	case ok := <-got:
		t.Fatalf("b took past the hub's budget (%v)", ok)
	case <-time.After(10 * time.Millisecond):
	}
	b.give("a", 10)
	if !<-got {
		t.Fatal("b's wait did not end when a gave back")
	}
	if now, peak := b.held(); now != 100 || peak != 100 {
		t.Fatalf("held %d, peak %d; want 100, 100", now, peak)
	}
	// A source never passes its share, with room in the hub.
	b.give("b", 50)
	gone := make(chan struct{})
	close(gone)
	if b.take("a", 11, gone) {
		t.Fatal("a took past its share of 60")
	}
	short := newRecvBudget(10, 10, time.Millisecond)
	if short.take("c", 11, nil) {
		t.Fatal("took more than the whole budget")
	}
}
