package daemon

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/time/rate"
)

// TestGRPCLogClippedAndLimited: a burst of long gRPC error lines comes
// out as at most grpcLogBurst lines of at most grpcLogLineMax bytes (and
// the note of the cut), and the next line kept says how many were dropped.
func TestGRPCLogClippedAndLimited(t *testing.T) {
	var out bytes.Buffer
	limit := rate.NewLimiter(rate.Inf, 0) // let the first burst through below
	g := &grpcLog{log: slog.New(slog.NewJSONHandler(&out, nil)), limit: rate.NewLimiter(grpcLogRate, grpcLogBurst)}
	long := strings.Repeat("7", 10<<10)
	for range 3 * grpcLogBurst {
		g.Errorf("Unable to read first websocket message: %s", long)
	}
	g.Info("chatty") // below the handler's level: neither written nor counted
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != grpcLogBurst {
		t.Fatalf("%d lines written; want the burst, %d", len(lines), grpcLogBurst)
	}
	for _, l := range lines {
		var rec struct{ Msg string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Msg) > grpcLogLineMax+64 || !strings.Contains(rec.Msg, "bytes cut") {
			t.Fatalf("a line of %d bytes, %.80q…; want it clipped to %d and saying so", len(rec.Msg), rec.Msg, grpcLogLineMax)
		}
	}
	out.Reset()
	g.limit = limit
	g.Errorf("after the burst")
	if !strings.Contains(out.String(), `"lines_dropped_before":40`) {
		t.Fatalf("the next line kept is %s; want it to count the 40 dropped", out.String())
	}
}
