// Command hubd is the Hub daemon. See daemon.Config for its settings.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/selfhub/hub/daemon"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "blocks" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := daemon.BlocksMain(ctx, os.Args[2:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	cfg, err := daemon.LoadConfig(os.Args[1:], os.Getenv)
	if err == flag.ErrHelp {
		fmt.Print(daemon.Usage())
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubd:", err)
		os.Exit(2)
	}
	log := daemon.NewLogger(cfg, os.Stderr)
	daemon.RouteGRPCLogs(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		log.Error("hubd failed to start", "err", err)
		os.Exit(1)
	}
	select {
	case <-ctx.Done():
		log.Info("hubd shutting down")
	case err := <-d.Err():
		log.Error("hubd listener failed", "err", err)
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := d.Close(shutdown); err != nil {
		log.Error("hubd shutdown", "err", err)
		os.Exit(1)
	}
}
