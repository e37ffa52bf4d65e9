package blockstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
)

// openGC is a GC over a file store in dir.
func openGC(t *testing.T, dir string) *GC {
	t.Helper()
	f, err := OpenFiles(filepath.Join(dir, "blocks"))
	if err != nil {
		t.Fatal(err)
	}
	return NewGC(New(f))
}

// TestGCFlushPassesThrough: blocks put through the GC and flushed are
// durable, whole under their names when the store is opened again (which
// removes what was never synced).
func TestGCFlushPassesThrough(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := openGC(t, dir)
	blk := blocks.NewBlock([]byte("flushed"))
	if err := g.Put(ctx, blk); err != nil {
		t.Fatal(err)
	}
	if err := g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, err := openGC(t, dir).Has(ctx, blk.Cid()); err != nil || !ok {
		t.Fatalf("flushed block after reopening: %v, %v; want it there", ok, err)
	}
}

// TestGCKeepsWhatIsLiveOrHeld: a cycle deletes what its mark did not
// reach, but keeps a block an operation touched and still holds when the
// cycle stops waiting for it, and a block touched while the cycle runs.
func TestGCKeepsWhatIsLiveOrHeld(t *testing.T) {
	ctx := context.Background()
	g := openGC(t, t.TempDir())
	put := func(ctx context.Context, s string) cid.Cid {
		t.Helper()
		blk := blocks.NewBlock([]byte(s))
		if err := g.Put(ctx, blk); err != nil {
			t.Fatal(err)
		}
		return blk.Cid()
	}
	marked, garbage, reused := put(ctx, "marked"), put(ctx, "garbage"), put(ctx, "reused")
	// An operation that began before the cycle and never ends: the cycle
	// stops waiting for it after the bound and keeps what it touched.
	held, release := g.Hold(ctx)
	defer release()
	pending := put(held, "pending")

	st, err := g.Collect(ctx, time.Millisecond, func(ctx context.Context, dag ipld.DAGService) (map[string]struct{}, error) {
		if _, err := g.Get(ctx, reused); err != nil { // touched during the cycle
			t.Fatal(err)
		}
		return map[string]struct{}{string(marked.Hash()): {}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Outwaited != 1 || st.Swept != 1 || st.Marked != 1 {
		t.Fatalf("stats %+v; want one outwaited, one marked, one swept", st)
	}
	for c, want := range map[cid.Cid]bool{marked: true, garbage: false, reused: true, pending: true} {
		if ok, err := g.Has(ctx, c); err != nil || ok != want {
			t.Errorf("block %s after the cycle: %v, %v; want %v", c, ok, err, want)
		}
	}
}
