package threadstest

import (
	"testing"
	"time"
)

// WaitLive writes probes until a listener that started "from now on"
// delivers one, and returns that first event: such a listener has no other
// way to tell when it is live, and a write made before it is never reaches
// it. probe(i) makes the i-th probe write, each distinct from the ones
// before (a unique index may be watching). A probe arrives in milliseconds
// once the listener is live; the two-minute bound only keeps a listener
// that gets nothing from hanging the test.
//
// It serves every test that listens through hub.Threads or one of its
// clients, whatever their event type.
func WaitLive[E any](t testing.TB, events <-chan E, probe func(i int) error) E {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the listener got none of %d probes in 2 minutes", i)
		}
		if err := probe(i); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
		select {
		case ev := <-events:
			return ev
		case <-time.After(50 * time.Millisecond):
		}
	}
}
