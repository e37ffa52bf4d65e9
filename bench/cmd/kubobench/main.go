// Command kubobench measures Hub's buckets side by side with kubo (the IPFS
// daemon) in one run: it starts a hubd built from this tree and a kubo
// daemon, each on a fresh repo on loopback, with the same UnixFS import
// profile (unixfs-v1-2025) and the same durability (blocks synced to disk
// before a write is acknowledged), and times the same work on both:
//
//   - one large file (1 GiB) pushed with the Go client over gRPC, against
//     `ipfs add` of the same file;
//   - many small files (10,000 of 4 KiB) in one PushPaths call, against
//     `ipfs add -r` of the same directory;
//   - reading the large file back over gRPC and the hub's HTTP gateway,
//     against kubo's gateway;
//   - each daemon's peak resident memory.
//
// It checks that both give the same CIDs, and prints a table of medians
// with the hub/kubo ratios, along with the machine's limits (single-core
// SHA-256, disk write bandwidth). Results go in bench/RESULTS.md; run it
// with `make bench-kubo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// options are the command's flags.
type options struct {
	size     int64  // bytes in the large file
	files    int    // how many small files
	fileSize int    // bytes in each small file
	reps     int    // repetitions of the whole set
	ipfs     string // the ipfs binary; empty: build it
	hubd     string // the hubd binary; empty: build it from this tree
	dir      string // scratch directory; empty: a temporary one
}

func main() {
	var o options
	flag.Int64Var(&o.size, "size", 1<<30, "bytes in the large file")
	flag.IntVar(&o.files, "files", 10000, "how many small files to add at once")
	flag.IntVar(&o.fileSize, "file-size", 4<<10, "bytes in each small file")
	flag.IntVar(&o.reps, "reps", 3, "repetitions; the table shows medians")
	flag.StringVar(&o.ipfs, "ipfs", "", "kubo's ipfs binary (default: built by bench/kubo/build.sh)")
	flag.StringVar(&o.hubd, "hubd", "", "hubd binary (default: built from this tree)")
	flag.StringVar(&o.dir, "dir", "", "scratch directory for test data and both repos (default: a temporary directory, removed at the end); needs about 3×size free per repetition")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "kubobench: unexpected argument %q; it takes only flags (-h lists them)\n", flag.Arg(0))
		os.Exit(2)
	}
	if o.size <= 0 || o.files <= 0 || o.fileSize <= 0 || o.reps <= 0 {
		fmt.Fprintln(os.Stderr, "kubobench: -size, -files, -file-size and -reps must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "kubobench:", err)
		os.Exit(1)
	}
}
