package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/grpclog"
)

// The gRPC library's log, as hubd keeps it. The gRPC-Web wrapper logs what
// a client sent in a first websocket message that failed (up to the
// pre-authentication budget, printed as decimal bytes: four times its
// size), so with gRPC's default logger anyone who can open a connection
// could fill the disk. Its lines are clipped and rate-limited instead.
const (
	// grpcLogLineMax is the most bytes of one gRPC log message kept.
	grpcLogLineMax = 512
	// grpcLogRate and grpcLogBurst bound how many gRPC log lines hubd
	// writes: a steady rate a second, after a burst.
	grpcLogRate  = 5
	grpcLogBurst = 20
)

// RouteGRPCLogs sends the gRPC library's log to log: its info lines at
// Debug, warnings at Warn and errors at Error, each message clipped to
// grpcLogLineMax bytes, at most grpcLogRate lines a second (after
// grpcLogBurst), and a count of what was dropped on the next line kept.
// gRPC has one logger per process, so hubd's main calls this once, before
// Start; tests that run daemons in process leave gRPC's logger as it is.
func RouteGRPCLogs(log *slog.Logger) {
	grpclog.SetLoggerV2(&grpcLog{log: log.With("from", "grpc"), limit: rate.NewLimiter(grpcLogRate, grpcLogBurst)})
}

// grpcLog is a grpclog.LoggerV2 over slog; see RouteGRPCLogs.
type grpcLog struct {
	log     *slog.Logger
	limit   *rate.Limiter
	dropped atomic.Int64 // lines not written since the last one that was
}

func (g *grpcLog) write(level slog.Level, msg string) {
	if !g.log.Enabled(context.Background(), level) {
		return
	}
	if !g.limit.Allow() {
		g.dropped.Add(1)
		return
	}
	if len(msg) > grpcLogLineMax {
		msg = msg[:grpcLogLineMax] + fmt.Sprintf("… (%d bytes cut)", len(msg)-grpcLogLineMax)
	}
	if n := g.dropped.Swap(0); n > 0 {
		g.log.Log(context.Background(), level, msg, "lines_dropped_before", n)
		return
	}
	g.log.Log(context.Background(), level, msg)
}

func (g *grpcLog) Info(args ...any)   { g.write(slog.LevelDebug, fmt.Sprint(args...)) }
func (g *grpcLog) Infoln(args ...any) { g.write(slog.LevelDebug, fmt.Sprintln(args...)) }
func (g *grpcLog) Infof(format string, args ...any) {
	g.write(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g *grpcLog) Warning(args ...any)   { g.write(slog.LevelWarn, fmt.Sprint(args...)) }
func (g *grpcLog) Warningln(args ...any) { g.write(slog.LevelWarn, fmt.Sprintln(args...)) }
func (g *grpcLog) Warningf(format string, args ...any) {
	g.write(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (g *grpcLog) Error(args ...any)   { g.write(slog.LevelError, fmt.Sprint(args...)) }
func (g *grpcLog) Errorln(args ...any) { g.write(slog.LevelError, fmt.Sprintln(args...)) }
func (g *grpcLog) Errorf(format string, args ...any) {
	g.write(slog.LevelError, fmt.Sprintf(format, args...))
}

// Fatal logs and exits, as grpclog's contract asks; gRPC calls it only for
// its own unrecoverable state.
func (g *grpcLog) Fatal(args ...any) {
	g.log.Error(fmt.Sprint(args...))
	os.Exit(1)
}

func (g *grpcLog) Fatalln(args ...any) {
	g.log.Error(fmt.Sprintln(args...))
	os.Exit(1)
}

func (g *grpcLog) Fatalf(format string, args ...any) {
	g.log.Error(fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether verbose lines of level l are wanted: none are.
func (g *grpcLog) V(l int) bool { return l <= 0 }
