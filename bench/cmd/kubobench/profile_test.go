package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/selfhub/hub/test/testhub"
)

// The benchmarks here are the hub's side of kubobench's push and pull rows with the
// daemon in process, so that a CPU profile shows where hubd spends the
// time (client and server share the profile; their functions tell them
// apart):
//
//	go test -run '^$' -bench HubPush -benchtime 1x -cpuprofile cpu.out ./bench/cmd/kubobench
//	go tool pprof -top cpu.out

// BenchmarkHubPushLarge pushes a 256 MiB file with PushPath over loopback
// gRPC, a new file into a new bucket each time.
func BenchmarkHubPushLarge(b *testing.B) {
	const size = 256 << 20
	ctx := context.Background()
	c := startInProcess(b)
	dir := b.TempDir()
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		src := filepath.Join(dir, fmt.Sprint(i))
		if err := writeRandomFile(src, size, uint64(i)); err != nil {
			b.Fatal(err)
		}
		bucket, err := c.newBucket(ctx, fmt.Sprint("b", i))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := c.pushFile(ctx, bucket, "big.bin", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHubPushSmallFiles pushes 10,000 files of 4 KiB in one PushPaths
// call, new files into a new bucket each time.
func BenchmarkHubPushSmallFiles(b *testing.B) {
	const files, size = 10000, 4 << 10
	ctx := context.Background()
	c := startInProcess(b)
	b.SetBytes(files * size)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		names, err := writeSmallFiles(dir, files, size, uint64(i))
		if err != nil {
			b.Fatal(err)
		}
		bucket, err := c.newBucket(ctx, fmt.Sprint("b", i))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := c.pushDir(ctx, bucket, "small", dir, names); err != nil {
			b.Fatal(err)
		}
	}
}

// startInProcess starts a hubd in this process and signs up a developer.
func startInProcess(b *testing.B) *hubClient {
	h := testhub.Start(b, nil)
	c, err := signup(context.Background(), h.Addrs.API, h.Addrs.Gateway)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.conn.Close() })
	return c
}

// BenchmarkHubPull reads a 256 MiB file back with PullPath over loopback
// gRPC (compare the gateway: BenchmarkGatewayGet64MiB in test/).
func BenchmarkHubPull(b *testing.B) {
	const size = 256 << 20
	ctx := context.Background()
	c := startInProcess(b)
	src := filepath.Join(b.TempDir(), "big")
	if err := writeRandomFile(src, size, 0); err != nil {
		b.Fatal(err)
	}
	bucket, err := c.newBucket(ctx, "b")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.pushFile(ctx, bucket, "big.bin", src); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n, err := c.pull(ctx, bucket, "big.bin"); err != nil || n != size {
			b.Fatalf("pulled %d of %d bytes: %v", n, size, err)
		}
	}
}
