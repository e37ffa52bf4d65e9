package daemon

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// testConfig is a daemon on a fresh repo and free loopback ports.
func testConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Repo = t.TempDir()
	cfg.APIAddr, cfg.WebAddr, cfg.GatewayAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.P2PAddr = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Dev = true
	return cfg
}

// TestStartMigratesTheStore: hubd starts a new store at the newest format
// version, with no migration run (nothing logged of one), and refuses,
// with a message that says what to do, a store a newer hubd has moved past
// what it knows.
func TestStartMigratesTheStore(t *testing.T) {
	cfg := testConfig(t)
	// A file, which the daemon's goroutines may write while the test reads.
	logFile, err := os.Create(filepath.Join(t.TempDir(), "hubd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	d, err := Start(context.Background(), cfg, slog.New(slog.NewTextHandler(logFile, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if logged, err := os.ReadFile(logFile.Name()); err != nil || strings.Contains(string(logged), "store migrated") {
		t.Fatalf("a new store was migrated (%v):\n%s", err, logged)
	}
	log := slog.New(slog.DiscardHandler)
	dir := filepath.Join(cfg.Repo, "store")
	st, err := store.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := st.Format(); err != nil || v != store.FormatNewest {
		t.Fatalf("format after start = %s, %v; want %s", v, err, store.FormatNewest)
	}
	// As a newer hubd would leave it.
	b := st.NewBatch()
	b.PutRaw(store.Key(store.Meta, "format"), binary.BigEndian.AppendUint64(nil, uint64(store.FormatNewest+1)))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = Start(context.Background(), cfg, log)
	if !errors.Is(errors.FailedPrecondition, err) || !strings.Contains(err.Error(), "run that hubd or a newer one") {
		t.Fatalf("Start on a newer store = %v; want FailedPrecondition that says to run a newer hubd", err)
	}
}
