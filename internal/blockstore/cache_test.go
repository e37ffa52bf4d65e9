package blockstore_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	dshelp "github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/internal/blockstore"
)

// copyName is the cache's file name for blk.
func copyName(blk blocks.Block) string {
	return "blocks." + dshelp.MultihashToDsKey(blk.Cid().Hash()).String()[1:]
}

// cachedFiles lists the file names in dir, sorted.
func cachedFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func namesOf(blks ...blocks.Block) []string {
	var names []string
	for _, b := range blks {
		names = append(names, copyName(b))
	}
	slices.Sort(names)
	return names
}

// TestS3Cache: blocks read from S3 are kept in the cache directory up to
// its size, the least recently read evicted first; a cached block is read
// from the disk (its object may be gone), a damaged copy is never served,
// the cache is rebuilt in recency order when opened again, and a deleted
// block leaves it.
func TestS3Cache(t *testing.T) {
	v, _ := startS3(t)
	ctx := context.Background()
	s := openS3(t, v.BlocksURL("blocks", "cache"), nil)
	dir := filepath.Join(t.TempDir(), "cache")
	const size, max = 10000, 30000 // room for three blocks
	c, err := blockstore.OpenCache(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	s.UseCache(c)
	bs := s.Blockstore()
	blks := randomBlocks(5, size)
	if err := bs.PutMany(ctx, blks); err != nil {
		t.Fatal(err)
	}
	if c.Bytes() != 0 {
		t.Fatalf("the cache holds %d bytes after puts; it keeps what is read, not written", c.Bytes())
	}
	read := func(b blocks.Block) error {
		t.Helper()
		got, err := bs.Get(ctx, b.Cid())
		if err == nil && !bytes.Equal(got.RawData(), b.RawData()) {
			t.Fatalf("Get %s returned other bytes", b.Cid())
		}
		return err
	}
	for _, i := range []int{0, 1, 2, 0, 3} { // 1 is then the least recently read
		if err := read(blks[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := cachedFiles(t, dir), namesOf(blks[0], blks[2], blks[3]); !slices.Equal(got, want) || c.Bytes() != max {
		t.Fatalf("cache holds %v (%d bytes), want %v (%d bytes)", got, c.Bytes(), want, max)
	}

	// Cached blocks are read from the disk: their objects can be gone.
	for _, b := range []blocks.Block{blks[0], blks[2], blks[3]} {
		obj := "cache/blocks/" + dshelp.MultihashToDsKey(b.Cid().Hash()).String()[1:]
		if err := os.Remove(v.ObjectPath("blocks", obj)); err != nil {
			t.Fatal(err)
		}
		if err := read(b); err != nil {
			t.Fatalf("a cached block whose object is gone: %v", err)
		}
		if n, err := bs.GetSize(ctx, b.Cid()); err != nil || n != size {
			t.Fatalf("GetSize of a cached block = %d, %v", n, err)
		}
	}
	// A damaged copy is dropped, not served (here the store no longer has
	// the block either).
	if err := os.WriteFile(filepath.Join(dir, copyName(blks[2])), []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := read(blks[2]); !ipld.IsNotFound(err) {
		t.Fatalf("a damaged copy of a block gone from the store: %v, want not found", err)
	}

	// Opened again: rebuilt, most recently read first; what an interrupted
	// write left is removed.
	if err := os.WriteFile(filepath.Join(dir, "12345"+".tmp"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, copyName(blks[0])), old, old); err != nil {
		t.Fatal(err)
	}
	c, err = blockstore.OpenCache(dir, size) // room for one: the older copy goes
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cachedFiles(t, dir), namesOf(blks[3]); !slices.Equal(got, want) || c.Bytes() != size {
		t.Fatalf("reopened with room for one block, the cache holds %v (%d bytes), want %v", got, c.Bytes(), want)
	}
	s.UseCache(c)
	if err := read(blks[3]); err != nil {
		t.Fatalf("a block cached before the reopening, its object gone: %v", err)
	}
	// A deleted block leaves the cache.
	if err := bs.DeleteBlock(ctx, blks[3].Cid()); err != nil {
		t.Fatal(err)
	}
	if got := cachedFiles(t, dir); len(got) != 0 || c.Bytes() != 0 {
		t.Fatalf("after deleting the cached block the cache holds %v (%d bytes)", got, c.Bytes())
	}
	if _, err := blockstore.OpenCache(dir, 0); err == nil {
		t.Fatal("OpenCache with size 0 succeeded")
	}
}
