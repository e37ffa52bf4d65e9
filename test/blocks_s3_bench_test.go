package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/test/testhub"
)

// backendBench is one in-process hubd of BenchmarkBlocksBackends, with a
// developer's bucket.
type backendBench struct {
	name string
	w    bucketsWorld
	key  string
	big  string // path of the last large file pushed
	cid  string // CID of the last gateway file pushed
}

// stream is size pseudo-random bytes, a different stream for each seed.
func stream(seed uint64, size int64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return io.LimitReader(mrand.NewChaCha8(s), size)
}

// BenchmarkBlocksBackends runs the same bucket work against two
// in-process hubds side by side, one keeping blocks in its repo (local),
// one in versitygw on this machine (s3, with --blocks-cache): a 1 GiB
// push and its pull over loopback gRPC, 10,000 files of 4 KiB in one
// PushPaths, and a 64 MiB gateway GET by CID of a file just pushed
// (cold: no block of it cached) and again (warm). Each workload runs on
// local, then on s3, so a drifting load hits both. Run it alone, with
// -benchtime 1x (see bench/RESULTS.md); it is not part of the tests.
func BenchmarkBlocksBackends(b *testing.B) {
	v := testhub.StartVersitygw(b)
	v.CreateBucket(b, "bench")
	v.SetEnv(b)
	cache := filepath.Join(b.TempDir(), "cache")
	var backends []*backendBench
	for _, be := range []struct {
		name string
		edit func(*daemon.Config)
	}{
		{"local", nil},
		{"s3", func(c *daemon.Config) { c.Blocks, c.BlocksCache = v.BlocksURL("bench", "blocks"), cache }},
	} {
		w := newBucketsUser(b, testhub.Start(b, be.edit), "bench"+be.name)
		created, err := w.bc.Create(w.ctx, "bench", bucketsclient.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		backends = append(backends, &backendBench{name: be.name, w: w, key: created.Root.Key})
	}
	seed := uint64(0)
	each := func(name string, bytes int64, fn func(b *testing.B, be *backendBench)) {
		for _, be := range backends {
			b.Run(name+"/"+be.name, func(b *testing.B) {
				b.SetBytes(bytes)
				fn(b, be)
			})
		}
	}
	const big = 1 << 30
	each("push1GiB", big, func(b *testing.B, be *backendBench) {
		for i := 0; i < b.N; i++ {
			seed++
			be.big = fmt.Sprintf("big%d.bin", seed)
			if _, err := be.w.bc.PushPath(be.w.ctx, be.key, be.big, stream(seed, big), ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	each("pull1GiB", big, func(b *testing.B, be *backendBench) {
		for i := 0; i < b.N; i++ {
			if n, err := be.w.bc.PullPath(be.w.ctx, be.key, be.big, io.Discard); err != nil || n != big {
				b.Fatalf("pull: %d bytes, %v", n, err)
			}
		}
	})
	const files, fileSize = 10000, 4 << 10
	each("small10k", files*fileSize, func(b *testing.B, be *backendBench) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			seed++
			all := make([]byte, files*fileSize)
			io.ReadFull(stream(seed, int64(len(all))), all)
			fs := make([]bucketsclient.File, files)
			for j := range fs {
				fs[j] = bucketsclient.File{Path: fmt.Sprintf("small%d/%d.bin", seed, j), Data: bytes.NewReader(all[j*fileSize : (j+1)*fileSize])}
			}
			b.StartTimer()
			if _, _, err := be.w.bc.PushFiles(be.w.ctx, be.key, "", fs); err != nil {
				b.Fatal(err)
			}
		}
	})
	const gw = 64 << 20
	get := func(b *testing.B, be *backendBench) {
		resp, err := http.Get("http://" + be.w.h.Addrs.Gateway + "/ipfs/" + be.cid)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != gw {
			b.Fatalf("status %s, %d bytes, %v", resp.Status, n, err)
		}
	}
	each("gatewayCold64MiB", gw, func(b *testing.B, be *backendBench) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			seed++
			pushed, err := be.w.bc.PushPath(be.w.ctx, be.key, fmt.Sprintf("gw%d.bin", seed), stream(seed, gw), "")
			if err != nil {
				b.Fatal(err)
			}
			be.cid = pushed.Cid
			b.StartTimer()
			get(b, be)
		}
	})
	each("gatewayWarm64MiB", gw, func(b *testing.B, be *backendBench) {
		for i := 0; i < b.N; i++ {
			get(b, be)
		}
	})
}
