package blockstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"maps"
	"os"
	"strings"
	"testing"

	bstore "github.com/ipfs/boxo/blockstore"
	dshelp "github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/test/testhub"
)

// TestS3 runs the S3 block store against a real S3 server (versitygw).
func TestS3(t *testing.T) {
	v := testhub.StartVersitygw(t)
	v.CreateBucket(t, "blocks")
	v.SetEnv(t)
	ctx := context.Background()
	s := openS3(t, v.BlocksURL("blocks", "hub/one"), nil)
	bs := s.Blockstore()

	t.Run("blocks", func(t *testing.T) {
		var blks []blocks.Block
		for i := range 40 { // more than the uploads run at once
			buf := make([]byte, 1000+i*3000)
			rand.Read(buf)
			blks = append(blks, blocks.NewBlock(buf))
		}
		if err := bs.PutMany(ctx, blks); err != nil {
			t.Fatal(err)
		}
		if err := bs.Put(ctx, blks[0]); err != nil { // again: a rewrite of the same bytes
			t.Fatal(err)
		}
		if err := bs.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, b := range blks {
			got, err := bs.Get(ctx, b.Cid())
			if err != nil || !bytes.Equal(got.RawData(), b.RawData()) {
				t.Fatalf("Get %s: %v (or wrong data)", b.Cid(), err)
			}
			if n, err := bs.GetSize(ctx, b.Cid()); err != nil || n != len(b.RawData()) {
				t.Fatalf("GetSize = %d, %v; want %d", n, err, len(b.RawData()))
			}
			// One object per block, named by its multihash under the prefix.
			obj := "hub/one/blocks/" + dshelp.MultihashToDsKey(b.Cid().Hash()).String()[1:]
			if _, err := os.Stat(v.ObjectPath("blocks", obj)); err != nil {
				t.Fatalf("object %s: %v", obj, err)
			}
		}
		// Another prefix in the same bucket is another store.
		other := openS3(t, v.BlocksURL("blocks", "hub/two"), nil).Blockstore()
		if ok, err := other.Has(ctx, blks[0].Cid()); ok || err != nil {
			t.Fatalf("Has under another prefix = %v, %v", ok, err)
		}
		// The listing holds every block and nothing else.
		want := map[string]bool{}
		for _, b := range blks {
			want[string(b.Cid().Hash())] = true
		}
		if got := listed(t, bs); !maps.Equal(got, want) {
			t.Fatalf("AllKeysChan listed %d multihashes, want the %d blocks put", len(got), len(want))
		}
		gone := blks[0].Cid()
		for range 2 { // deleting a missing block is no error
			if err := bs.DeleteBlock(ctx, gone); err != nil {
				t.Fatal(err)
			}
		}
		_, getErr := bs.Get(ctx, gone)
		_, sizeErr := bs.GetSize(ctx, gone)
		ok, hasErr := bs.Has(ctx, gone)
		if !ipld.IsNotFound(getErr) || !ipld.IsNotFound(sizeErr) || ok || hasErr != nil {
			t.Fatalf("a deleted block: Get %v, GetSize %v, Has %v %v; want not found", getErr, sizeErr, ok, hasErr)
		}
	})

	// An object whose bytes do not match its name is never a block.
	t.Run("tampered", func(t *testing.T) {
		data := bytes.Repeat([]byte("tamper me "), 500)
		for name, damage := range map[string][]byte{
			"altered":   append([]byte("X"), data[1:]...),
			"truncated": data[:len(data)/2],
			"empty":     {},
		} {
			t.Run(name, func(t *testing.T) {
				b := blocks.NewBlock(append([]byte(name), data...))
				if err := bs.Put(ctx, b); err != nil {
					t.Fatal(err)
				}
				obj := "hub/one/blocks/" + dshelp.MultihashToDsKey(b.Cid().Hash()).String()[1:]
				if err := os.WriteFile(v.ObjectPath("blocks", obj), damage, 0o644); err != nil {
					t.Fatal(err)
				}
				_, err := bs.Get(ctx, b.Cid())
				if !errors.Is(errors.DataLoss, err) || !strings.Contains(err.Error(), "damaged") {
					t.Fatalf("Get of a tampered object: %v, want a DataLoss error that says the block is damaged", err)
				}
			})
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		c, err := blockstore.ParseS3URL(v.BlocksURL("nosuchbucket", "x"))
		if err != nil {
			t.Fatal(err)
		}
		c.Attempts = 1
		_, err = blockstore.OpenS3(ctx, c)
		if !errors.Is(errors.FailedPrecondition, err) || !strings.Contains(err.Error(), "s3://nosuchbucket/x") {
			t.Fatalf("OpenS3 of a missing bucket: %v, want FailedPrecondition naming it", err)
		}
	})
}

func TestParseS3URL(t *testing.T) {
	good := map[string]blockstore.S3Config{
		"s3://b":      {Bucket: "b"},
		"s3://b/p/q/": {Bucket: "b", Prefix: "p/q"},
		"s3://b/p?endpoint=http://127.0.0.1:9000&region=eu-1&path-style=true": {
			Bucket: "b", Prefix: "p", Endpoint: "http://127.0.0.1:9000", Region: "eu-1", PathStyle: true},
	}
	for in, want := range good {
		got, err := blockstore.ParseS3URL(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got.Uploads, got.Attempts, got.MaxBackoff, got.Timeout = 0, 0, 0, 0
		if got != want {
			t.Errorf("%s = %+v, want %+v", in, got, want)
		}
	}
	for _, bad := range []string{
		"", "/var/blocks", "s3:///p", "http://b/p", "s3://u:p@b/p", "s3://b/p?colour=red",
		"s3://b/p?endpoint=ftp://x", "s3://b/p?path-style=maybe", "s3://b/p?region=a&region=b",
	} {
		if _, err := blockstore.ParseS3URL(bad); !errors.Is(errors.Invalid, err) {
			t.Errorf("ParseS3URL(%q) = %v, want Invalid", bad, err)
		}
	}
}

// listed returns the multihashes bs.AllKeysChan lists.
func listed(t *testing.T, bs bstore.Blockstore) map[string]bool {
	t.Helper()
	keys, err := bs.AllKeysChan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for k := range keys {
		got[string(k.Hash())] = true
	}
	return got
}

// BenchmarkS3Import writes 64 MiB as 1 MiB blocks in batches of 8, as an
// import does (BenchmarkImport does the same to the local stores), into
// versitygw on this machine, then reads them back.
func BenchmarkS3Import(b *testing.B) {
	v := testhub.StartVersitygw(b)
	v.CreateBucket(b, "bench")
	v.SetEnv(b)
	ctx := context.Background()
	c, err := blockstore.ParseS3URL(v.BlocksURL("bench", "import"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := blockstore.OpenS3(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	bs := s.Blockstore()
	var all []blocks.Block
	b.Run("put", func(b *testing.B) {
		b.SetBytes(64 << 20)
		for i := 0; i < b.N; i++ {
			all = blockstore.PutBatches(b, bs)
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(64 << 20)
		for i := 0; i < b.N; i++ {
			for _, blk := range all {
				if _, err := bs.Get(ctx, blk.Cid()); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
