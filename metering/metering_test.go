package metering

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/store"
)

func TestCountsPersistAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	m := New(st)
	user := hub.Principal{Kind: hub.UserPrincipal, Account: "bapp", Identity: "buser"}
	dev := hub.Principal{Kind: hub.DeveloperPrincipal, Account: "bapp"}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			for range 100 {
				m.Add(user, Counts{Reads: 2, Writes: 1, Egress: 10})
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			m.Flush()
		}
	})
	wg.Wait()
	m.Add(dev, Counts{Writes: 7})
	m.Add(hub.Principal{}, Counts{Reads: 1}) // anonymous: not counted
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m = New(st)
	defer m.Close()
	got, _ := m.Usage(context.Background(), SubjectOf(user))
	if got != (Counts{Reads: 10000, Writes: 5000, Egress: 50000}) {
		t.Fatalf("user usage after reopen: %+v", got)
	}
	got, _ = m.Usage(context.Background(), SubjectOf(dev))
	if got != (Counts{Writes: 7}) {
		t.Fatalf("developer usage: %+v", got)
	}
}
