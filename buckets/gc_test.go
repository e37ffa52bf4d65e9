package buckets

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
)

// blockCount returns how many blocks the service's blockstore holds.
func blockCount(t testing.TB, s *Service) int {
	t.Helper()
	keys, err := s.blocks.AllKeysChan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range keys {
		n++
	}
	return n
}

// checkComplete fails the test unless every block of every bucket in f's
// DB is stored.
func checkComplete(t testing.TB, f fixture) {
	t.Helper()
	bkts, err := f.svc.List(context.Background(), f.p, f.thread)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bkts {
		if _, err := f.svc.stored(context.Background(), "test", mustRoot(b)); err != nil {
			t.Fatalf("bucket %s lost blocks: %v", b.Name, err)
		}
	}
}

func collect(t testing.TB, s *Service) GCStats {
	t.Helper()
	st, err := s.CollectGarbage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestGCFreesRemovedDataOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	keep := f.create(t, "keep")
	drop := f.create(t, "drop")
	kept := randomBytes(t, 3<<20+5)
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, keep.Key, "a/kept.bin", bytes.NewReader(kept), ""); err != nil {
		t.Fatal(err)
	}
	// The same file in both buckets: removing it from one must not free it.
	shared := randomBytes(t, 2<<20)
	for _, b := range []Bucket{keep, drop} {
		if _, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "shared.bin", bytes.NewReader(shared), ""); err != nil {
			t.Fatal(err)
		}
	}
	gone := randomBytes(t, 4<<20)
	if _, err := f.svc.PushPath(ctx, f.p, f.thread, drop.Key, "gone.bin", bytes.NewReader(gone), ""); err != nil {
		t.Fatal(err)
	}

	// Superseded roots are garbage already: the first cycle frees the old
	// directory nodes, and nothing a root reaches.
	first := collect(t, f.svc)
	if first.Roots != 2 || first.Swept == 0 {
		t.Fatalf("first cycle: %+v; want 2 roots and the superseded directories swept", first)
	}
	checkComplete(t, f)
	if again := collect(t, f.svc); again.Swept != 0 {
		t.Fatalf("a second cycle with no change swept %d blocks", again.Swept)
	}

	before := blockCount(t, f.svc)
	if err := f.svc.Remove(ctx, f.p, f.thread, drop.Key); err != nil {
		t.Fatal(err)
	}
	st := collect(t, f.svc)
	if st.FreedBytes < int64(len(gone)) || st.FreedBytes >= int64(len(gone)+len(shared)) {
		t.Fatalf("freed %d bytes after removing a bucket holding %d unique bytes (and %d shared): %+v",
			st.FreedBytes, len(gone), len(shared), st)
	}
	if after := blockCount(t, f.svc); after != before-st.Swept {
		t.Fatalf("blockstore holds %d blocks, want %d - %d", after, before, st.Swept)
	}
	checkComplete(t, f)
	for path, want := range map[string][]byte{"a/kept.bin": kept, "shared.bin": shared} {
		var got bytes.Buffer
		if err := f.svc.PullPath(ctx, f.p, f.thread, keep.Key, path, &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%s changed after collection", path)
		}
	}
}

// blockingReader yields its data, then blocks until released.
type blockingReader struct {
	data    io.Reader
	reached chan struct{} // closed when data is exhausted
	release chan struct{}
	once    sync.Once
}

func (r *blockingReader) Read(b []byte) (int, error) {
	n, err := r.data.Read(b)
	if err == io.EOF {
		r.once.Do(func() { close(r.reached) })
		<-r.release
	}
	return n, err
}

func TestGCWaitsForPushesInFlight(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.create(t, "b")
	data := randomBytes(t, 3<<20)
	r := &blockingReader{data: bytes.NewReader(data), reached: make(chan struct{}), release: make(chan struct{})}
	pushed := make(chan error, 1)
	go func() {
		_, err := f.svc.PushPath(ctx, f.p, f.thread, b.Key, "big.bin", r, "")
		pushed <- err
	}()
	<-r.reached // the file's leaves are stored, not yet linked
	stored := blockCount(t, f.svc)

	// A cycle that cannot wait for the push gives up and deletes nothing.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.svc.CollectGarbage(cancelled); !errors.Is(errors.Canceled, err) {
		t.Fatalf("collection with a push in flight and no time to wait: %v; want Canceled", err)
	}
	if n := blockCount(t, f.svc); n != stored {
		t.Fatalf("a cancelled collection changed the blockstore: %d blocks, had %d", n, stored)
	}

	// A cycle that waits finishes after the push, which stays whole.
	collected := make(chan error, 1)
	go func() {
		_, err := f.svc.CollectGarbage(ctx)
		collected <- err
	}()
	close(r.release)
	if err := <-pushed; err != nil {
		t.Fatal(err)
	}
	if err := <-collected; err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "big.bin", &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("file pushed during a collection came back different")
	}
}

// TestGCOutwaitsAStalledPush stalls a push (PushPath, and a batch as
// PushPaths makes) after it stored part of a file whose blocks another
// bucket held too; that bucket is removed. A cycle stops waiting for the
// push after GCHoldTimeout and frees the removed bucket's own data, but
// keeps every block the push stored or found stored, so the push, let
// go, commits a whole file.
func TestGCOutwaitsAStalledPush(t *testing.T) {
	pushes := map[string]func(f fixture, key string, r io.Reader) error{
		"PushPath": func(f fixture, key string, r io.Reader) error {
			_, err := f.svc.PushPath(context.Background(), f.p, f.thread, key, "same.bin", r, "")
			return err
		},
		"Batch": func(f fixture, key string, r io.Reader) error {
			ctx := context.Background()
			bt, err := f.svc.NewBatch(ctx, f.p, f.thread, key, "")
			if err != nil {
				return err
			}
			defer bt.Discard()
			if _, err := bt.Add(ctx, "same.bin", r); err != nil {
				return err
			}
			_, _, err = bt.Commit(ctx)
			return err
		},
	}
	for name, push := range pushes {
		t.Run(name, func(t *testing.T) {
			f := newFixtureConfig(t, Config{GCHoldTimeout: 50 * time.Millisecond})
			ctx := context.Background()
			drop, b := f.create(t, "drop"), f.create(t, "b")
			gone, same := randomBytes(t, 3<<20), randomBytes(t, 12<<20) // same: more than the import buffers
			for path, data := range map[string][]byte{"gone.bin": gone, "same.bin": same} {
				if _, err := f.svc.PushPath(ctx, f.p, f.thread, drop.Key, path, bytes.NewReader(data), ""); err != nil {
					t.Fatal(err)
				}
			}
			collect(t, f.svc) // the superseded roots
			r := &blockingReader{data: bytes.NewReader(same), reached: make(chan struct{}), release: make(chan struct{})}
			pushed := make(chan error, 1)
			go func() { pushed <- push(f, b.Key, r) }()
			<-r.reached
			if err := f.svc.Remove(ctx, f.p, f.thread, drop.Key); err != nil {
				t.Fatal(err)
			}

			st := collect(t, f.svc)
			if st.Outwaited != 1 {
				t.Fatalf("cycle with a stalled push: %+v; want it to stop waiting for one operation", st)
			}
			if st.FreedBytes < int64(len(gone)) || st.FreedBytes >= int64(len(gone)+len(same)) {
				t.Fatalf("freed %d bytes; want the removed bucket's %d unique bytes and none of the %d the stalled push uses: %+v",
					st.FreedBytes, len(gone), len(same), st)
			}

			close(r.release)
			if err := <-pushed; err != nil {
				t.Fatalf("the push, let go after the cycle: %v", err)
			}
			checkComplete(t, f)
			var got bytes.Buffer
			if err := f.svc.PullPath(ctx, f.p, f.thread, b.Key, "same.bin", &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), same) {
				t.Fatal("the file pushed across the cycle came back different")
			}
			if st := collect(t, f.svc); st.Outwaited != 0 {
				t.Fatalf("a cycle with nothing in flight: %+v", st)
			}
			checkComplete(t, f)
		})
	}
}

// TestGCUnderConcurrentChanges runs collections back to back while
// writers push, deduplicate against orphaned blocks, link old CIDs and
// remove paths; afterwards every bucket's DAG must be whole.
func TestGCUnderConcurrentChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const writers, rounds = 4, 12
	bkts := make([]Bucket, writers)
	for i := range bkts {
		bkts[i] = f.create(t, fmt.Sprintf("b%d", i))
	}
	// A small pool of contents, so pushes often land on blocks another
	// writer just orphaned.
	pool := make([][]byte, 3)
	for i := range pool {
		pool[i] = randomBytes(t, 1<<20+i*4096)
	}
	stop := make(chan struct{})
	gcErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				gcErr <- nil
				return
			default:
			}
			if _, err := f.svc.CollectGarbage(ctx); err != nil {
				gcErr <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := bkts[w].Key
			var last cid.Cid
			for i := range rounds {
				data := pool[(w+i)%len(pool)]
				res, err := f.svc.PushPath(ctx, f.p, f.thread, key, fmt.Sprintf("f%d", i%3), bytes.NewReader(data), "")
				if err != nil {
					errc <- err
					return
				}
				if last.Defined() {
					// Link a file pushed earlier (maybe unlinked since).
					if _, err := f.svc.SetPath(ctx, f.p, f.thread, key, "linked", last); err != nil && !errors.Is(errors.NotExist, err) {
						errc <- err
						return
					}
				}
				last = res.Cid
				if i%4 == 3 {
					if _, err := f.svc.RemovePath(ctx, f.p, f.thread, key, "f0", ""); err != nil && !errors.Is(errors.NotExist, err) {
						errc <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-gcErr; err != nil {
		t.Fatal(err)
	}
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	checkComplete(t, f)
	collect(t, f.svc)
	checkComplete(t, f)
}

// BenchmarkCollectGarbage measures one cycle over a bucket of 10,000
// small files and 64 MiB of large ones, with nothing to sweep: the cost of
// marking and of listing the blockstore.
func BenchmarkCollectGarbage(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	bkt := f.create(b, "bench")
	bt, err := f.svc.NewBatch(ctx, f.p, f.thread, bkt.Key, "")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10_000 {
		if _, err := bt.Add(ctx, fmt.Sprintf("small/%d/%d.txt", i/100, i), bytes.NewReader(randomBytes(b, 4096))); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 4 {
		if _, err := bt.Add(ctx, fmt.Sprintf("large/%d.bin", i), bytes.NewReader(randomBytes(b, 16<<20))); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := bt.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	collect(b, f.svc) // the superseded roots
	b.ResetTimer()
	var st GCStats
	for b.Loop() {
		st = collect(b, f.svc)
	}
	if st.Swept != 0 {
		b.Fatalf("swept %d blocks with nothing to collect", st.Swept)
	}
	b.ReportMetric(float64(st.Marked), "blocks")
	b.ReportMetric(float64(st.Marked)/b.Elapsed().Seconds()*float64(b.N), "blocks/s")
}
