package daemon

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

// TestScriptThreadsGetProcs: Start adds a Go scheduler slot for each
// script thread it may run (--script-max-running), so that running
// scripts never hold the slots request work needs, and Close takes them
// off again.
func TestScriptThreadsGetProcs(t *testing.T) {
	cfg := testConfig(t)
	cfg.ScriptMaxRunning = 3
	before := runtime.GOMAXPROCS(0)
	d, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != before+3 {
		t.Errorf("GOMAXPROCS while hubd runs = %d, want %d (%d cores and 3 script threads)", got, before+3, before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS after Close = %d, want %d again", got, before)
	}
}
