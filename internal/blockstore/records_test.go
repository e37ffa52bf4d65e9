package blockstore_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	dshelp "github.com/ipfs/boxo/datastore/dshelp"
	blocks "github.com/ipfs/go-block-format"
	ds "github.com/ipfs/go-datastore"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/test/testhub"
)

// openS3 opens the S3 block store at url, recording its objects in st
// unless st is nil.
func openS3(t *testing.T, url string, st *store.Store) *blockstore.S3 {
	t.Helper()
	ctx := context.Background()
	c, err := blockstore.ParseS3URL(url)
	if err != nil {
		t.Fatal(err)
	}
	s, err := blockstore.OpenS3(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if st != nil {
		if err := s.KeepRecords(ctx, st, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// startS3 starts versitygw with a bucket "blocks", gives the test its
// credentials, and opens an embedded store for the records.
func startS3(t *testing.T) (*testhub.Versitygw, *store.Store) {
	t.Helper()
	v := testhub.StartVersitygw(t)
	v.CreateBucket(t, "blocks")
	v.SetEnv(t)
	st, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return v, st
}

// randomBlocks returns n blocks of random bytes.
func randomBlocks(n, size int) []blocks.Block {
	var out []blocks.Block
	for range n {
		buf := make([]byte, size)
		rand.Read(buf)
		out = append(out, blocks.NewBlock(buf))
	}
	return out
}

// recorded returns the multihashes s records, with their sizes.
func recorded(t *testing.T, s *blockstore.S3) map[string]int {
	t.Helper()
	got := map[string]int{}
	after := ds.NewKey("/")
	for {
		page, err := s.Records(after, 7) // a small page: the paging is tested too
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return got
		}
		for _, r := range page {
			h, err := dshelp.DsKeyToMultihash(ds.NewKey(r.Key.BaseNamespace()))
			if err != nil {
				t.Fatal(err)
			}
			got[string(h)] = r.Size
		}
		after = page[len(page)-1].Key
	}
}

// markOnly is a mark that reaches the given blocks.
func markOnly(blks ...blocks.Block) blockstore.Mark {
	return func(context.Context, ipld.DAGService) (map[string]struct{}, error) {
		m := map[string]struct{}{}
		for _, b := range blks {
			m[string(b.Cid().Hash())] = struct{}{}
		}
		return m, nil
	}
}

// TestS3Records: an S3 store keeps the hub's record of the objects it
// writes; a store opened on a location its records do not list is listed
// once; the collector deletes from the records, in batches, and leaves
// alone an object nobody recorded (it never lists the store).
func TestS3Records(t *testing.T) {
	v, st := startS3(t)
	ctx := context.Background()
	url := v.BlocksURL("blocks", "rec")

	// Blocks written before the hub kept records.
	before := randomBlocks(5, 3000)
	if err := openS3(t, url, nil).Blockstore().PutMany(ctx, before); err != nil {
		t.Fatal(err)
	}
	s := openS3(t, url, st) // lists the location once
	if got := recorded(t, s); len(got) != len(before) {
		t.Fatalf("after the first open %d objects are recorded, want the %d in the store", len(got), len(before))
	}
	after := randomBlocks(12, 5000)
	bs := s.Blockstore()
	if err := bs.PutMany(ctx, after[:10]); err != nil {
		t.Fatal(err)
	}
	for _, b := range after[10:] {
		if err := bs.Put(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	all := append(append([]blocks.Block{}, before...), after...)
	got := recorded(t, s)
	for _, b := range all {
		if got[string(b.Cid().Hash())] != len(b.RawData()) {
			t.Fatalf("block %s: recorded size %d, want %d", b.Cid(), got[string(b.Cid().Hash())], len(b.RawData()))
		}
	}

	// An object the hub did not write through this store: never recorded.
	stray := blocks.NewBlock([]byte("stray object"))
	strayObj := "rec/blocks/" + dshelp.MultihashToDsKey(stray.Cid().Hash()).String()[1:]
	if _, err := v.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("blocks"), Key: aws.String(strayObj),
		Body: strings.NewReader("stray object")}); err != nil {
		t.Fatal(err)
	}
	// Opened again on the same location: not listed again.
	s = openS3(t, url, st)
	if _, ok := recorded(t, s)[string(stray.Cid().Hash())]; ok {
		t.Fatal("reopening the same location listed it again")
	}

	g := blockstore.NewGC(s.Blockstore())
	kept := all[3]
	stats, err := g.Collect(ctx, time.Minute, markOnly(kept))
	if err != nil {
		t.Fatal(err)
	}
	var freed int64
	for _, b := range all {
		if b != kept {
			freed += int64(len(b.RawData()))
		}
	}
	if stats.Swept != len(all)-1 || stats.FreedBytes != freed {
		t.Fatalf("stats %+v; want %d swept, %d bytes freed", stats, len(all)-1, freed)
	}
	for _, b := range all {
		ok, err := g.Has(ctx, b.Cid())
		if err != nil || ok != (b == kept) {
			t.Fatalf("block %s after the cycle: %v, %v; want %v", b.Cid(), ok, err, b == kept)
		}
	}
	if got := recorded(t, s); len(got) != 1 || got[string(kept.Cid().Hash())] == 0 {
		t.Fatalf("after the cycle the records hold %d objects, want the kept block only", len(got))
	}
	if _, err := os.Stat(v.ObjectPath("blocks", strayObj)); err != nil {
		t.Fatalf("the unrecorded object after the cycle: %v; want it left alone", err)
	}

	// Another location is listed when first opened, and its records
	// replace the old location's.
	other := openS3(t, v.BlocksURL("blocks", "rec/blocks"), st) // sees the objects above as its own namespaces
	if got := recorded(t, other); len(got) != 0 {
		t.Fatalf("another location holding no block keys: %d records, want none", len(got))
	}
}

// stallDeletes is a proxy to an S3 server that holds every batch delete
// (POST ?delete) until release is closed, and reports on arrived when the
// first one arrives.
type stallDeletes struct {
	next    http.Handler
	arrived chan struct{}
	once    sync.Once
	release chan struct{}
}

func (p *stallDeletes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Query().Has("delete") {
		p.once.Do(func() { close(p.arrived) })
		<-p.release
	}
	p.next.ServeHTTP(w, r)
}

// TestGCRecordedDeleteRace: a block put while the sweep deletes it in a
// batch waits for the batch, then is stored: it is in the store after the
// cycle, not deleted behind the writer's back. Other operations go on
// while the batch is in flight (the collector holds no lock across it).
func TestGCRecordedDeleteRace(t *testing.T) {
	v, st := startS3(t)
	ctx := context.Background()
	target, err := url.Parse(v.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &stallDeletes{next: httputil.NewSingleHostReverseProxy(target), arrived: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	var releaseOnce sync.Once
	releaseDeletes := func() { releaseOnce.Do(func() { close(proxy.release) }) }
	defer releaseDeletes() // before srv.Close, which waits for held requests
	s := openS3(t, strings.Replace(v.BlocksURL("blocks", "race"), v.Endpoint, srv.URL, 1), st)
	g := blockstore.NewGC(s.Blockstore())
	garbage := randomBlocks(3, 2000)
	if err := g.PutMany(ctx, garbage); err != nil {
		t.Fatal(err)
	}

	collected, cycleDone := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(cycleDone)
		_, err := g.Collect(ctx, time.Minute, markOnly())
		collected <- err
	}()
	defer func() { releaseDeletes(); <-cycleDone }() // before st.Close
	<-proxy.arrived
	// While the batch is held: another block is stored and read.
	other := blocks.NewBlock([]byte("unrelated"))
	if err := g.Put(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Get(ctx, other.Cid()); err != nil {
		t.Fatal(err)
	}
	// A block of the batch is written again.
	reput := make(chan error, 1)
	go func() { reput <- g.Put(ctx, garbage[0]) }()
	// Without the wait in the collector the put would finish while the
	// batch is held, and the batch would then delete its object. Give it
	// the chance before releasing; with the wait it never finishes first,
	// so this bound cannot fail the test, only make it miss that bug.
	select {
	case err := <-reput:
		t.Fatalf("a put of a block being deleted returned (%v) before the delete did", err)
	case <-time.After(2 * time.Second):
	}
	releaseDeletes()
	if err := <-collected; err != nil {
		t.Fatal(err)
	}
	if err := <-reput; err != nil {
		t.Fatal(err)
	}
	for b, want := range map[blocks.Block]bool{garbage[0]: true, garbage[1]: false, garbage[2]: false, other: true} {
		if ok, err := g.Has(ctx, b.Cid()); err != nil || ok != want {
			t.Errorf("block %s after the cycle: %v, %v; want %v", b.Cid(), ok, err, want)
		}
		if _, ok := recorded(t, s)[string(b.Cid().Hash())]; ok != want {
			t.Errorf("block %s recorded after the cycle: %v, want %v", b.Cid(), ok, want)
		}
	}
}
