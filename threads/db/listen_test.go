package db

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// TestListenNeverDrops writes thousands of changes while a listener that
// does not read for a while is subscribed: it must still receive every
// one, in order, and then resume from the last position it handled.
func TestListenNeverDrops(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const n = 3000
	var (
		mu     sync.Mutex
		events []Event
		gate   = make(chan struct{})
	)
	done := make(chan error, 1)
	go func() {
		// From position 0: the first change of the DB, whenever the
		// listener gets going.
		done <- d.Listen(ctx, p, 0, []ListenFilter{{Collection: "people"}}, func(ev Event) error {
			<-gate // a stalled reader
			mu.Lock()
			events = append(events, ev)
			full := len(events) == n+2
			mu.Unlock()
			if full {
				cancel()
			}
			return nil
		})
	}()
	for i := range n {
		create(t, d, p, fmt.Sprintf(`{"_id":"i%05d","name":"x"}`, i))
	}
	if err := write(t, d, p, "people", func(x *Txn) error {
		return x.Save(context.Background(), [][]byte{[]byte(`{"_id":"i00000","name":"y"}`)})
	}); err != nil {
		t.Fatal(err)
	}
	if err := write(t, d, p, "people", func(x *Txn) error { return x.Delete(context.Background(), []string{"i00001"}) }); err != nil {
		t.Fatal(err)
	}
	close(gate)
	select {
	case err := <-done:
		if !errors.Is(errors.Canceled, err) && err != nil && ctx.Err() == nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("listener received %d of %d events", len(events), n+2)
	}
	if len(events) != n+2 {
		t.Fatalf("received %d events; want %d", len(events), n+2)
	}
	for i := range n {
		if e := events[i]; e.Action != ActionCreate || e.ID != fmt.Sprintf("i%05d", i) || len(e.Instance) == 0 {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if e := events[n]; e.Action != ActionSave || e.ID != "i00000" {
		t.Fatalf("save event: %+v", e)
	}
	if e := events[n+1]; e.Action != ActionDelete || e.ID != "i00001" || e.Instance != nil {
		t.Fatalf("delete event: %+v", e)
	}

	// Resuming after an event delivers exactly the ones after it, with
	// the filters applied.
	var resumed []Event
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel2()
	err := d.Listen(ctx2, p, events[n-1].Seq, []ListenFilter{{Actions: []Action{ActionDelete}}}, func(ev Event) error {
		resumed = append(resumed, ev)
		cancel2()
		return nil
	})
	if len(resumed) != 1 || resumed[0].ID != "i00001" {
		t.Fatalf("resumed listener got %+v (%v)", resumed, err)
	}
}

func TestListenHistoryBound(t *testing.T) {
	m := newManager(t, Config{ListenHistory: 10})
	p := user(t)
	d := newDB(t, m, p)
	for i := range 30 {
		create(t, d, p, fmt.Sprintf(`{"name":"n%d"}`, i))
	}
	err := d.Listen(context.Background(), p, 2, nil, func(Event) error { return nil })
	if !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("resume from a trimmed position: %v", err)
	}
	n := 0
	m.st.Scan(chgPrefix(d.pfx), func(_, _ []byte) error { n++; return nil })
	if n != 10 {
		t.Fatalf("%d changes kept; want 10", n)
	}
}

// TestListenHistoryShrinks: a hub started again with a smaller
// ListenHistory trims the listen log to it when the DB loads, and writes
// keep it at that size.
func TestListenHistoryShrinks(t *testing.T) {
	m := newManager(t, Config{ListenHistory: 20})
	p := user(t)
	d := newDB(t, m, p)
	kept := func() []uint64 {
		var seqs []uint64
		m.st.Scan(chgPrefix(d.pfx), func(k, _ []byte) error {
			seqs = append(seqs, binary.BigEndian.Uint64(k[len(k)-8:]))
			return nil
		})
		return seqs
	}
	for i := range 30 {
		create(t, d, p, fmt.Sprintf(`{"name":"n%d"}`, i))
	}
	last := d.seq
	if got := kept(); len(got) != 20 || got[0] != last-19 {
		t.Fatalf("kept %v; want the last 20", got)
	}
	m = NewManager(Config{ListenHistory: 5}, m.st, m.threads)
	d, err := m.DB(context.Background(), p, d.id)
	if err != nil {
		t.Fatal(err)
	}
	if got := kept(); !slices.Equal(got, []uint64{last - 4, last - 3, last - 2, last - 1, last}) {
		t.Fatalf("after loading with a history of 5, kept %v", got)
	}
	create(t, d, p, `{"name":"more"}`)
	if got := kept(); len(got) != 5 || got[4] != last+1 {
		t.Fatalf("after one more write, kept %v", got)
	}
}

// TestListenLagPastHistory: a listener that stalls while more changes
// than the kept history are written gets every change up to the gap and
// then FailedPrecondition naming the changes it missed, never a skip.
func TestListenLagPastHistory(t *testing.T) {
	m := newManager(t, Config{ListenHistory: 10})
	p := user(t)
	d := newDB(t, m, p)
	create(t, d, p, `{"name":"first"}`)
	stalled, resume := make(chan struct{}), make(chan struct{})
	var got []uint64
	done := make(chan error, 1)
	// Bounded, so that a listener which waits on after a skip fails the
	// test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go func() {
		done <- d.Listen(ctx, p, 0, nil, func(e Event) error {
			got = append(got, e.Seq)
			if len(got) == 1 {
				close(stalled)
				<-resume // the listener stalls on its first event
			}
			return nil
		})
	}()
	<-stalled
	for i := range 30 {
		create(t, d, p, fmt.Sprintf(`{"name":"n%d"}`, i))
	}
	close(resume)
	err := <-done
	if !errors.Is(errors.FailedPrecondition, err) || !strings.Contains(err.Error(), "changes 2 to 21 are no longer kept") {
		t.Fatalf("listener that lagged past the history ended with %v; want FailedPrecondition naming changes 2 to 21", err)
	}
	if !slices.Equal(got, []uint64{1}) {
		t.Fatalf("delivered %v before the error; want [1] and nothing after the gap", got)
	}
}

// TestListenShared: the listeners of a DB share each change as read from
// the store, and its encoding when they see it as written; a change a
// read filter rewrites is encoded for each listener, as that listener may
// see it. With a cache too small to hold a change, every change still
// arrives, in order, and reading does not cost a batch per change.
func TestListenShared(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache int
	}{{"cached", 0}, {"a cache of one byte", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			m := newManager(t, Config{ListenCache: tc.cache})
			owner, other := user(t), user(t)
			d := newDB(t, m, owner)
			ctx := context.Background()
			if err := d.NewCollection(ctx, owner, CollectionConfig{Name: "notes", ReadFilter: `instance.reader = reader; return instance`}); err != nil {
				t.Fatal(err)
			}
			const n = 40
			for i := range n {
				create(t, d, owner, fmt.Sprintf(`{"name":"p%d"}`, i))
				if err := write(t, d, owner, "notes", func(x *Txn) error {
					_, err := x.Create(ctx, [][]byte{[]byte(fmt.Sprintf(`{"text":"n%d"}`, i))})
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			var encodes int
			enc := func(ev Event) ([]byte, error) {
				encodes++ // the listeners run one after the other
				return []byte(fmt.Sprintf("%d %s %s", ev.Seq, ev.ID, ev.Instance)), nil
			}
			// Each listener in turn reads every change, from the first.
			wire := map[string][][]byte{}
			for _, p := range []hub.Principal{owner, other} {
				lctx, cancel := context.WithCancel(ctx)
				var got [][]byte
				var last uint64
				err := d.Listen(lctx, p, 0, nil, func(ev Event) error {
					if ev.Seq != last+1 {
						t.Errorf("event at %d after %d", ev.Seq, last)
					}
					last = ev.Seq
					b, err := ev.Encode(enc)
					got = append(got, b)
					if len(got) == 2*n {
						cancel()
					}
					return err
				})
				if len(got) != 2*n {
					t.Fatalf("a listener got %d events (%v); want %d", len(got), err, 2*n)
				}
				wire[string(p.Owner())] = got
			}
			for i := range 2 * n {
				a, b := wire[string(owner.Owner())][i], wire[string(other.Owner())][i]
				filtered := strings.Contains(string(a), `"text"`)
				if filtered != strings.Contains(string(a), string(owner.Owner())) || filtered != strings.Contains(string(b), string(other.Owner())) {
					t.Fatalf("event %d as the two listeners saw it:\n%s\n%s", i, a, b)
				}
				if !filtered && string(a) != string(b) {
					t.Fatalf("event %d of a collection without a read filter differs:\n%s\n%s", i, a, b)
				}
			}
			if tc.cache == 1 {
				// Nothing stays cached: each listener reads its changes
				// itself, and fewer at a time once what it read is gone
				// before it gets there, not a batch per change.
				if reads := m.ListenReads(); reads > 2*listenBatch+4*2*2*n {
					t.Fatalf("the listeners read %d changes from the store to deliver %d", reads, 2*2*n)
				}
			}
			if tc.cache == 0 {
				// The second listener read nothing from the store, and
				// shared the first one's encoding of the changes as written.
				if reads := m.ListenReads(); reads != 2*n {
					t.Fatalf("the listeners read %d changes from the store; want %d, once each", reads, 2*n)
				}
				if encodes != 3*n {
					t.Fatalf("%d encodings; want %d (each change as written once, each filtered one per listener)", encodes, 3*n)
				}
			}
		})
	}
}
