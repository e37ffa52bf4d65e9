package abuse

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/selfhub/hub/api/pb/threadspb"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// TestListenFanout: one user opens as many Listen streams on their own DB
// as the per-principal cap allows, never reading them, and writes 50 KB
// instances. One stream more is refused with ResourceExhausted naming the
// flag; hubd's memory stays bounded (a listener that does not read costs
// a cursor and a bounded batch, not a queue); another tenant is served.
func TestListenFanout(t *testing.T) {
	const (
		streamCap = 32
		writes    = 200
	)
	// The child collects garbage early (GOGC=20), so that its RSS shows
	// what it holds rather than how far its heap may grow before the next
	// collection, which grows with the store's own data.
	t.Setenv("GOGC", "20")
	h := startHub(t, "--max-streams-per-principal", "32")
	attacker, other := newTenant(t, h, "mallory"), newTenant(t, h, "alice")
	user := attacker.User
	id := attacker.notesDB(t)
	big := json.RawMessage(`{"text":"` + strings.Repeat("x", 50<<10) + `"}`)
	write := func() {
		t.Helper()
		for range writes {
			if _, err := attacker.Threads.Create(user, id, "notes", big); err != nil {
				t.Fatalf("Create: %v", err)
			}
		}
	}
	// What the writes cost hubd with nobody listening, to compare with.
	start, _ := h.rss(t)
	write()
	before, _ := h.rss(t)

	// Listeners that never call Recv, on their own connection. Its flow
	// control windows are fixed (no growth by bandwidth estimate), so
	// that hubd soon has to hold what the listeners do not take.
	conn, err := grpc.NewClient(h.Addrs.API, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := threadspb.NewAPIClient(conn)
	ctx, cancel := context.WithCancel(user)
	defer cancel()
	var listeners []threadspb.API_ListenClient
	for range streamCap {
		s, err := raw.Listen(ctx, &threadspb.ListenRequest{DbID: id.Bytes()})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		listeners = append(listeners, s)
	}
	write()
	// Each listener has been sent its first event (its headers come with
	// it): all are open and counted.
	for i, s := range listeners {
		if _, err := s.Header(); err != nil {
			t.Fatalf("listener %d: %v", i, err)
		}
	}
	err = attacker.Threads.Listen(user, id, nil, 0, func(threadsclient.ListenEvent) error { return nil })
	if !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-streams-per-principal") {
		t.Fatalf("Listen past the cap gave %v; want ResourceExhausted naming --max-streams-per-principal", err)
	}

	other.mustBeServed(t)
	h.alive(t)
	now, _ := h.rss(t)
	unheard, heard := before-start, now-before
	t.Logf("hubd's RSS grew %d MiB with %d writes of 50 KB and no listener, %d MiB with as many writes and %d listeners that do not read",
		unheard>>20, writes, heard>>20, streamCap)
	// Were every event queued for the listeners, they would hold
	// 32 × 200 × 50 KB, 320 MB, at least; each holds one bounded batch.
	if heard > unheard+64<<20 {
		t.Fatalf("%d listeners that do not read cost hubd %d MiB more than the writes alone; want a bounded batch each", streamCap, (heard-unheard)>>20)
	}
}
