package blockstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/store"
)

// impl opens a datastore in dir; the same dir reopens it.
type impl struct {
	name string
	open func(t testing.TB, dir string) ds.Batching
}

var impls = []impl{
	{"files", func(t testing.TB, dir string) ds.Batching {
		f, err := OpenFiles(filepath.Join(dir, "blocks"))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}},
	{"pebble", func(t testing.TB, dir string) ds.Batching {
		st, err := store.Open(filepath.Join(dir, "store"), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return NewPebble(st)
	}},
}

func TestBlockstore(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			d := im.open(t, dir)
			bs := New(d)
			var blks []blocks.Block
			for i := range 10 {
				blks = append(blks, blocks.NewBlock(bytes.Repeat([]byte{byte(i)}, 1000+i)))
			}
			if err := bs.PutMany(ctx, blks); err != nil {
				t.Fatal(err)
			}
			for _, b := range blks {
				got, err := bs.Get(ctx, b.Cid())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.RawData(), b.RawData()) {
					t.Fatalf("block %s: wrong data", b.Cid())
				}
				if n, err := bs.GetSize(ctx, b.Cid()); err != nil || n != len(b.RawData()) {
					t.Fatalf("GetSize = %d, %v; want %d", n, err, len(b.RawData()))
				}
			}
			ch, err := bs.AllKeysChan(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for range ch {
				n++
			}
			if n != len(blks) {
				t.Fatalf("AllKeysChan gave %d keys, want %d", n, len(blks))
			}
			if err := bs.DeleteBlock(ctx, blks[0].Cid()); err != nil {
				t.Fatal(err)
			}
			if _, err := bs.Get(ctx, blks[0].Cid()); !ipld.IsNotFound(err) {
				t.Fatalf("Get of a deleted block: %v, want not found", err)
			}
			if ok, _ := bs.Has(ctx, blks[0].Cid()); ok {
				t.Fatal("Has of a deleted block is true")
			}
			if im.name == "pebble" {
				return // one store per directory: reopening is the store's own test
			}
			// Flushed blocks survive a reopen.
			if err := bs.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			bs = New(im.open(t, dir))
			if _, err := bs.Get(ctx, blks[1].Cid()); err != nil {
				t.Fatalf("after reopen: %v", err)
			}
			if _, err := bs.Get(ctx, cid.NewCidV1(cid.Raw, blks[0].Cid().Hash())); !ipld.IsNotFound(err) {
				t.Fatalf("missing block: %v", err)
			}
		})
	}
}

func TestDatastoreQuery(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			ctx := context.Background()
			d := im.open(t, t.TempDir())
			for _, k := range []string{"/a/k1", "/a/k2", "/a/k3", "/ab/k1", "/b/k1"} {
				if err := d.Put(ctx, ds.NewKey(k), []byte(k)); err != nil {
					t.Fatal(err)
				}
			}
			res, err := d.Query(ctx, query.Query{Prefix: "/a", Orders: []query.Order{query.OrderByKey{}}, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			all, err := res.Rest()
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != 2 || all[0].Key != "/a/k1" || string(all[0].Value) != "/a/k1" || all[1].Key != "/a/k2" {
				t.Fatalf("query /a limit 2 = %+v", all)
			}
			if _, err := d.Get(ctx, ds.NewKey("/a/nope")); err != ds.ErrNotFound {
				t.Fatalf("Get missing = %v, want ds.ErrNotFound", err)
			}
		})
	}
}

// A crash before Sync leaves temporary files; opening the store removes
// them and the blocks are absent.
func TestFilesCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := OpenFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Batch(ctx)
	if err := b.Put(ctx, ds.NewKey("/blocks/ABCDEF"), []byte("half")); err != nil {
		t.Fatal(err)
	}
	// No Sync: the process "dies" here.
	f, err = OpenFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Has(ctx, ds.NewKey("/blocks/ABCDEF")); ok {
		t.Fatal("an uncommitted block is visible")
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return err
	})
	if len(left) != 0 {
		t.Fatalf("temporary files left after reopen: %v", left)
	}
	for _, bad := range []string{"/../x", "/a/b/c", "/a/b.c", "/a"} {
		if err := f.Put(ctx, ds.NewKey(bad), []byte("x")); err == nil {
			t.Errorf("Put(%q) accepted", bad)
		}
	}
}

// BenchmarkImport writes 64 MiB as 1 MiB blocks in batches of 8, as an
// import does, into each datastore, and makes them durable.
func BenchmarkImport(b *testing.B) {
	for _, im := range impls {
		b.Run(im.name, func(b *testing.B) {
			ctx := context.Background()
			bs := New(im.open(b, b.TempDir()))
			b.SetBytes(64 << 20)
			for i := 0; i < b.N; i++ {
				putBatches(b, bs)
				if err := bs.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// putBatches writes 64 new 1 MiB blocks to bs in batches of 8, as an
// import does, and returns them.
func putBatches(b *testing.B, bs Blockstore) []blocks.Block {
	var all []blocks.Block
	buf := make([]byte, 1<<20)
	for j := 0; j < 64; j += 8 {
		var batch []blocks.Block
		for range 8 {
			rand.Read(buf[:64])
			batch = append(batch, blocks.NewBlock(bytes.Clone(buf)))
		}
		if err := bs.PutMany(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		all = append(all, batch...)
	}
	return all
}

// TestFilesSync checks the barrier: values put before Sync are durable
// under their final names (few and many, the fsync and syncfs paths),
// readable throughout, while concurrent puts, reads and deletes go on.
func TestFilesSync(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{3, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			f, err := OpenFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			key := func(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/blocks/K%05dX", i)) }
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < n; i += 4 {
						if err := f.Put(ctx, key(i), []byte(fmt.Sprint(i))); err != nil {
							t.Error(err)
							return
						}
						if v, err := f.Get(ctx, key(i)); err != nil || string(v) != fmt.Sprint(i) {
							t.Errorf("Get(%d) right after Put = %q, %v", i, v, err)
						}
						if i%10 == 0 {
							if err := f.Sync(ctx, ds.NewKey("/")); err != nil {
								t.Error(err)
							}
						}
					}
				}()
			}
			wg.Wait()
			if err := f.Delete(ctx, key(1)); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(ctx, ds.NewKey("/")); err != nil {
				t.Fatal(err)
			}
			if len(f.staged) != 0 {
				t.Fatalf("%d values still staged after Sync", len(f.staged))
			}
			// A reopen (what a restart sees) holds every value but the deleted one.
			g, err := OpenFiles(dir)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				v, err := g.Get(ctx, key(i))
				if i == 1 {
					if err != ds.ErrNotFound {
						t.Fatalf("deleted value: %q, %v", v, err)
					}
					continue
				}
				if err != nil || string(v) != fmt.Sprint(i) {
					t.Fatalf("value %d after reopen = %q, %v", i, v, err)
				}
			}
		})
	}
}
