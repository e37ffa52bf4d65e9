package buckets

import (
	"context"
	"log/slog"
	"testing"

	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/logstore"
)

// fixture is a service with one developer and one thread of theirs that
// holds the buckets DB.
type fixture struct {
	svc    *Service
	p      hub.Principal
	thread threads.ID
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	return newFixtureConfig(t, Config{GatewayURL: "http://127.0.0.1:8006", WWWDomain: "buckets.example"})
}

// newFixtureConfig is a fixture over the stores hubd uses: pebble and the
// file blockstore, in temporary directories.
func newFixtureConfig(t testing.TB, cfg Config) fixture {
	t.Helper()
	st, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	files, err := blockstore.OpenFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return fixtureOver(t, cfg, st, blockstore.New(files))
}

// newMemFixture is a fixture over pebble in memory and a map datastore:
// no file is written.
func newMemFixture(t testing.TB) fixture {
	t.Helper()
	st, err := store.OpenMem(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return fixtureOver(t, Config{}, st, blockstore.New(dssync.MutexWrap(ds.NewMapDatastore())))
}

// fixtureOver makes the fixture's thread and service over st and blocks,
// and closes st when the test ends.
func fixtureOver(t testing.TB, cfg Config, st *store.Store, blocks blockstore.Blockstore) fixture {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	m := db.NewManager(db.Config{}, st, logstore.NewStore(st))
	p := hub.Principal{Kind: hub.DeveloperPrincipal, Account: "bdev"}
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	// Named as the JS client's getOrCreate names the DB it makes.
	if _, err := m.NewDB(context.Background(), p, id, "buckets", nil, nil); err != nil {
		t.Fatal(err)
	}
	return fixture{svc: New(cfg, m, st, blockstore.NewGC(blocks)), p: p, thread: id}
}

func (f fixture) create(t testing.TB, name string) Bucket {
	t.Helper()
	b, _, err := f.svc.Create(context.Background(), f.p, f.thread, name, false, cid.Undef)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
