package test

import (
	"bytes"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
)

// BenchmarkBucketPushPull64MiB pushes and pulls a 64 MiB file of random
// bytes with the Go client over loopback gRPC to an in-process hubd, whose
// blocks are synced to disk. Reported: MB/s (b.SetBytes) per push+pull.
func BenchmarkBucketPushPull64MiB(b *testing.B) {
	for _, dir := range []string{"push", "pull"} {
		b.Run(dir, func(b *testing.B) {
			w := newBucketsWorld(b, "bench"+dir)
			created, err := w.bc.Create(w.ctx, "bench", bucketsclient.CreateOptions{})
			if err != nil {
				b.Fatal(err)
			}
			data := randomData(64 << 20)
			if _, err := w.bc.PushPath(w.ctx, created.Root.Key, "seed.bin", bytes.NewReader(data), ""); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if dir == "push" {
					data[0]++ // a new file each time
					if _, err := w.bc.PushPath(w.ctx, created.Root.Key, "f.bin", bytes.NewReader(data), ""); err != nil {
						b.Fatal(err)
					}
				} else if _, err := w.bc.PullPath(w.ctx, created.Root.Key, "seed.bin", io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBucketPushMemory pushes one 5 GiB file (pseudo-random,
// generated as it is sent) per iteration to a child hubd and reports the daemon's peak
// resident memory (VmHWM, Linux) next to the throughput: streaming means
// it stays far below the size of the data.
func BenchmarkBucketPushMemory(b *testing.B) {
	const size = 5 << 30
	bin := testhub.Build(b, "./cmd/hubd")
	p := testhub.StartProcess(b, bin, nil, hubdArgs(b.TempDir())...)
	conn := testhub.Dial(b, p.Addrs.API)
	sctx, _ := signup(b, hubclient.New(conn), "membench")
	k, err := hubclient.New(conn).CreateKey(sctx, hub.AccountKey, false)
	if err != nil {
		b.Fatal(err)
	}
	kctx := testhub.WithKey(b, k)
	id, err := threadsclient.New(conn).NewDB(kctx, "", threadsclient.DBOptions{Name: "buckets"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := client.WithThread(kctx, id.String())
	bc := bucketsclient.New(conn)
	created, err := bc.Create(ctx, "mem", bucketsclient.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src := io.LimitReader(mrand.NewChaCha8([32]byte{byte(i)}), size)
		if _, err := bc.PushPath(ctx, created.Root.Key, "big.bin", src, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.Atoi(f[1])
			b.ReportMetric(float64(kb)/1024, "hubd-peak-RSS-MiB")
		}
	}
}
