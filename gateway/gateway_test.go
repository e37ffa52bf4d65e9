package gateway

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// fakeBuckets serves a fixed table of buckets by key; reading the broken
// key fails.
type fakeBuckets struct {
	byKey  map[string]buckets.GatewayBucket
	broken string
}

func (f fakeBuckets) GatewayRoot(_ context.Context, thread threads.ID, key string) (buckets.GatewayBucket, error) {
	b, ok := f.byKey[key]
	switch {
	case key == f.broken:
		return buckets.GatewayBucket{}, errors.E(errors.Internal, "disk on fire")
	case !ok || thread != "" && thread != b.Thread:
		return buckets.GatewayBucket{}, errors.E(errors.NotExist, "no such bucket")
	}
	return b, nil
}

func newKey(t *testing.T) string {
	t.Helper()
	_, k, err := buckets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestBucketAccess checks what the gateway does with a bucket it may not
// serve or cannot read: a private bucket when it was built without the
// means to open one (no Private, no Tokens), a bucket in another thread, a
// store that fails. Serving private buckets is tested end to end in
// test/buckets_private_test.go.
func TestBucketAccess(t *testing.T) {
	ctx := context.Background()
	bs := bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	file, err := buckets.Import(ctx, dag, strings.NewReader("public words"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := uio.NewDirectory(dag)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.AddChild(ctx, "f.txt", file); err != nil {
		t.Fatal(err)
	}
	root, err := dir.GetNode()
	if err != nil {
		t.Fatal(err)
	}
	if err := dag.Add(ctx, root); err != nil {
		t.Fatal(err)
	}
	thread, other := newThread(t), newThread(t)
	public, private := newKey(t), newKey(t)
	brokenKey := newKey(t)
	fb := fakeBuckets{byKey: map[string]buckets.GatewayBucket{
		public:  {Thread: thread, Root: root.Cid()},
		private: {Thread: thread, Root: root.Cid(), Private: true},
	}, broken: brokenKey}
	h, err := New(Config{Blocks: bs, Buckets: fb})
	if err != nil {
		t.Fatal(err)
	}
	tpath := func(key, p string) string { return "/thread/" + thread.String() + "/buckets/" + key + p }
	for _, tc := range []struct {
		name, path string
		code       int
		body       string
	}{
		{"public thread", tpath(public, "/f.txt"), http.StatusOK, "public words"},
		{"public ipns", "/ipns/" + public + "/f.txt", http.StatusOK, "public words"},
		{"private thread", tpath(private, "/f.txt"), http.StatusForbidden, "private"},
		{"private thread root", tpath(private, "/"), http.StatusForbidden, "private"},
		{"private ipns", "/ipns/" + private + "/f.txt", http.StatusForbidden, "private"},
		{"private car", tpath(private, "/?format=car"), http.StatusForbidden, "private"},
		{"other thread", "/thread/" + other.String() + "/buckets/" + public + "/f.txt", http.StatusNotFound, "no such bucket"},
		{"broken store", tpath(brokenKey, "/"), http.StatusInternalServerError, "try again"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.code || !bytes.Contains(body, []byte(tc.body)) {
				t.Fatalf("status %d, body %q; want %d and %q", rec.Code, body, tc.code, tc.body)
			}
		})
	}
}

func newThread(t *testing.T) threads.ID {
	t.Helper()
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// FuzzPaths checks that no request path panics the handler or gets a
// server error: bad paths are the caller's fault (4xx).
func FuzzPaths(f *testing.F) {
	bs := bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	h, err := New(Config{Blocks: bs, Buckets: fakeBuckets{}})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"/ipfs/", "/ipfs/bafkqaaa", "/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/a/../b",
		"/ipns/", "/ipns/k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8/x",
		"/thread/", "/thread/x/buckets/", "/thread/bafk/buckets/k51/x?format=car", "/thread//buckets//",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		req, err := http.NewRequest(http.MethodGet, "http://hub"+p, nil)
		if err != nil || req.URL.Path == "" {
			return
		}
		req.RequestURI = req.URL.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%q: status %d: %s", p, rec.Code, rec.Body)
		}
	})
}
