package db

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// ticking returns a clock that moves step forward each time it is read,
// so that a check's time is the number of clock readings it makes: the
// deadline is met at the same point of a check on any machine.
func ticking(step time.Duration) func() time.Time {
	var mu sync.Mutex
	t := time.Unix(1e9, 0)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(step)
		return t
	}
}

// stopped is a clock that never moves: no check runs out of time.
func stopped() time.Time { return time.Unix(1e9, 0) }

// TestSchemaDeadline: a write near the static work bound (2^14 - 1 checks
// of one value, within the default limit) is abandoned at its deadline
// with DeadlineExceeded and a short message saying what to do; with time
// to spare the same write passes; the schema works as before after an
// abandoned check, and checks of one schema may run at once.
func TestSchemaDeadline(t *testing.T) {
	const timeout = 100 * time.Millisecond
	s, err := compileSchema("test", []byte(diamonds(14)), SchemaLimits{Timeout: timeout}, false)
	if err != nil {
		t.Fatal(err)
	}
	doc := mustDecode(t, `{"x":1}`)

	for round := range 2 { // the second after an abandoned check
		err := s.validate("test", doc, ticking(time.Millisecond))
		msg := errString(err)
		if !errors.Is(errors.DeadlineExceeded, err) || !strings.Contains(msg, "longer than this hub allows (100ms") ||
			!strings.Contains(msg, "simplify the schema") || len(msg) > 512 {
			t.Fatalf("round %d: a check needing more time than its deadline: %v; want DeadlineExceeded saying what to do", round, err)
		}
		// One clock reading starts the check, one ends each subschema.
		if got, want := s.deadline.checks, int64(timeout/time.Millisecond); got != want {
			t.Fatalf("round %d: the check stopped after %d subschemas; want %d (at its deadline)", round, got, want)
		}
		if err := s.validate("test", doc, stopped); err != nil {
			t.Fatalf("round %d: with time to spare: %v", round, err)
		}
		if got := s.deadline.checks; got != 1<<15-1 {
			t.Fatalf("round %d: a whole check finished %d subschemas; want %d", round, got, 1<<15-1)
		}
	}
	if err := s.validate("test", mustDecode(t, `{"x":[]}`), ticking(0)); err != nil {
		t.Fatalf("a clock standing still: %v", err)
	}
	if err := s.validate("test", "not an object", stopped); !errors.Is(errors.Invalid, err) {
		t.Fatalf("an instance that fails: %v; want Invalid", err)
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := s.validate("test", doc, stopped); err != nil {
				t.Errorf("checks at once: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestSchemaDeadlineWrite: through a DB, a write whose check runs past
// --schema-timeout by the manager's clock is refused with
// DeadlineExceeded and stores nothing; a collection with a cheap schema
// in the same DB takes writes under the same clock.
func TestSchemaDeadlineWrite(t *testing.T) {
	m := newManager(t, Config{Now: ticking(time.Millisecond), Schemas: SchemaLimits{Timeout: 50 * time.Millisecond}})
	p := user(t)
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cols := []CollectionConfig{people(), {Name: "slow", Schema: []byte(diamonds(13))}}
	if _, err := m.NewDB(ctx, p, id, "test", nil, cols); err != nil {
		t.Fatal(err)
	}
	d, err := m.DB(ctx, p, id)
	if err != nil {
		t.Fatal(err)
	}
	err = write(t, d, p, "slow", func(txn *Txn) error {
		_, err := txn.Create(ctx, [][]byte{[]byte(`{"_id":"x1","x":1}`)})
		return err
	})
	if !errors.Is(errors.DeadlineExceeded, err) || !strings.Contains(err.Error(), "longer than this hub allows") {
		t.Fatalf("a write past the schema's deadline: %v; want DeadlineExceeded", err)
	}
	if ok, err := d.hasNow(t, p, "slow", "x1"); ok || err != nil {
		t.Fatalf("the refused write is stored (%v, %v)", ok, err)
	}
	create(t, d, p, `{"name":"still served"}`)
}
