package abuse

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/selfhub/hub/api/pb/threadspb"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
)

// TestListenFanout: one user opens as many Listen streams on their own DB
// as the per-principal cap allows (256), never reading them, and writes
// 50 KB instances. One stream more is refused with ResourceExhausted
// naming the flag; hubd's memory stays bounded: a listener that does not
// read costs a cursor (its goroutines and stream, about 30 KiB), not a
// queue nor a batch of its own (each cost 0.7 to 1 MiB before listeners
// shared the changes and their encoding); another tenant is served.
func TestListenFanout(t *testing.T) {
	const (
		streamCap = 256
		writes    = 200
		perStream = 128 << 10 // bytes a stalled listener may cost, with room
	)
	// The child collects garbage early (GOGC=20), so that its RSS shows
	// what it holds rather than how far its heap may grow before the next
	// collection, which grows with the store's own data.
	t.Setenv("GOGC", "20")
	h := startHub(t, "--max-streams-per-principal", strconv.Itoa(streamCap))
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

	ctx, cancel := context.WithCancel(user)
	defer cancel()
	listeners := stalledListeners(t, h, ctx, id, streamCap)
	write()
	// Each listener has been sent its first event (its headers come with
	// it): all are open and counted.
	for i, s := range listeners {
		if _, err := s.Header(); err != nil {
			t.Fatalf("listener %d: %v", i, err)
		}
	}
	err := attacker.Threads.Listen(user, id, nil, 0, func(threadsclient.ListenEvent) error { return nil })
	if !errors.Is(errors.Exhausted, err) || !strings.Contains(err.Error(), "--max-streams-per-principal") {
		t.Fatalf("Listen past the cap gave %v; want ResourceExhausted naming --max-streams-per-principal", err)
	}

	other.mustBeServed(t)
	h.alive(t)
	now, _ := h.rss(t)
	unheard, heard := before-start, now-before
	t.Logf("hubd's RSS grew %d MiB with %d writes of 50 KB and no listener, %d MiB with as many writes and %d listeners that do not read",
		unheard>>20, writes, heard>>20, streamCap)
	if heard > unheard+streamCap*perStream {
		t.Fatalf("%d listeners that do not read cost hubd %d MiB more than the writes alone; want at most %d KiB each",
			streamCap, (heard-unheard)>>20, perStream>>10)
	}
}

// stalledListeners opens n Listen streams on DB id that never call Recv,
// a connection per hundred. The connections' flow-control windows are
// fixed (no growth by bandwidth estimate), so that hubd soon has to hold
// what the listeners do not take.
func stalledListeners(t testing.TB, h *target, ctx context.Context, id threadsclient.ID, n int) []threadspb.API_ListenClient {
	t.Helper()
	var (
		raw       threadspb.APIClient
		listeners []threadspb.API_ListenClient
	)
	for i := range n {
		if i%100 == 0 {
			conn, err := grpc.NewClient(h.Addrs.API, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			raw = threadspb.NewAPIClient(conn)
		}
		s, err := raw.Listen(ctx, &threadspb.ListenRequest{DbID: id.Bytes()})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		listeners = append(listeners, s)
	}
	return listeners
}

// TestListenSharedFanout: one user opens 50 Listen streams on their own
// DB, all reading, and writes twenty 50 KB instances. hubd reads each
// change from the store and encodes it for the wire once, not once per
// listener (its /metrics count both), and still sends every listener
// every change.
func TestListenSharedFanout(t *testing.T) {
	const (
		listeners = 50
		writes    = 20
	)
	h := startHub(t)
	tn := newTenant(t, h, "mallory")
	id := tn.notesDB(t)
	big := json.RawMessage(`{"text":"` + strings.Repeat("x", 50<<10) + `"}`)
	create := func() {
		t.Helper()
		if _, err := tn.Threads.Create(tn.User, id, "notes", big); err != nil {
			t.Fatal(err)
		}
	}
	// The listeners resume after the DB's first change, so that each
	// gets every later one whenever its stream opens.
	create()
	ctx, cancel := context.WithCancel(tn.User)
	defer cancel()
	var (
		mu  sync.Mutex
		got [listeners]int
	)
	for i := range listeners {
		go tn.Threads.Listen(ctx, id, nil, 1, func(threadsclient.ListenEvent) error {
			mu.Lock()
			got[i]++
			mu.Unlock()
			return nil
		})
	}
	for range writes {
		create()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		all := slices.Min(got[:])
		mu.Unlock()
		if all == writes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a listener got %d of %d changes", all, writes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	reads, encoded, sent := metric(t, h, "hub_listen_changes_read_total"), metric(t, h, "hub_listen_events_encoded_total"), metric(t, h, "hub_listen_events_sent_total")
	t.Logf("%d listeners, %d changes: %d read from the store, %d encoded, %d sent", listeners, writes, reads, encoded, sent)
	if sent < listeners*writes {
		t.Fatalf("hubd sent %d events; want %d", sent, listeners*writes)
	}
	// Once each, and some room: a change evicted and read again.
	if reads > 2*writes || encoded > 2*writes {
		t.Fatalf("hubd read %d changes from the store and encoded %d events for %d changes to %d listeners; want each change read and encoded once",
			reads, encoded, writes, listeners)
	}
	h.alive(t)
}

// metric returns the value of a counter on the child hubd's /metrics.
func metric(t *testing.T, h *target, name string) int {
	t.Helper()
	_, body := testhub.Follow(t, "http://"+h.Addrs.Gateway+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %q", line)
			}
			return int(f)
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}
