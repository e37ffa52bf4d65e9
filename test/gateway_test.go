package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	"github.com/ipfs/boxo/ipld/merkledag"
	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	car "github.com/ipld/go-car/v2"
	mh "github.com/multiformats/go-multihash"

	"github.com/selfhub/hub/buckets"
	bucketsclient "github.com/selfhub/hub/client/buckets"
)

// gatewayWorld is a bucket with a file and folders pushed, and the
// gateway's base URL.
type gatewayWorld struct {
	bucketsWorld
	base   string // http://<gateway addr>
	thread string
	key    string
	root   string // /ipfs/<root> after the pushes
	big    []byte // contents of big.bin
	bigCID string
	files  map[string]string // small files by path
}

func newGatewayWorld(t *testing.T) gatewayWorld {
	t.Helper()
	w := gatewayWorld{bucketsWorld: newBucketsWorld(t, "gateway"), files: map[string]string{
		"site/index.html": "<!doctype html><title>home</title>hello from a bucket",
		"site/about.txt":  "about",
		"docs/a.txt":      "first",
		"docs/b.txt":      "second",
	}}
	w.base = "http://" + w.h.Addrs.Gateway
	w.thread = threadOf(t, w.ctx)
	created, err := w.bc.Create(w.ctx, "gw", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.key, w.root = created.Root.Key, created.Root.Path
	if want := w.base + "/thread/" + w.thread + "/buckets/" + w.key; created.Links.URL != want {
		t.Errorf("Links.URL = %q; want %q", created.Links.URL, want)
	}
	w.big = randomData(3<<20 + 12345) // several 1 MiB chunks and a short one
	pushed, err := w.bc.PushPath(w.ctx, w.key, "big.bin", bytes.NewReader(w.big), w.root)
	if err != nil {
		t.Fatal(err)
	}
	w.bigCID, w.root = pushed.Cid, pushed.Root.Path
	for _, p := range []string{"site/index.html", "site/about.txt", "docs/a.txt", "docs/b.txt"} {
		pushed, err := w.bc.PushPath(w.ctx, w.key, p, strings.NewReader(w.files[p]), w.root)
		if err != nil {
			t.Fatal(err)
		}
		w.root = pushed.Root.Path
	}
	return w
}

// bucketURL is the gateway URL of path p in the bucket.
func (w gatewayWorld) bucketURL(p string) string {
	return w.base + "/thread/" + w.thread + "/buckets/" + w.key + p
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       2 * time.Minute,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get fetches url with optional header pairs ("Host" included) and
// returns the response with its body read.
func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, hdr...)
}

// do sends a request with method to url, with optional header pairs
// ("Host" included), and returns the response with its body read.
func do(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1] // Go sends req.Host, not a Host header
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestGatewayFiles(t *testing.T) {
	w := newGatewayWorld(t)
	for _, tc := range []struct {
		name, url string
		want      []byte
		immutable bool
	}{
		{"ipfs cid", w.base + "/ipfs/" + w.bigCID, w.big, true},
		{"ipfs root path", w.base + w.root + "/big.bin", w.big, true},
		{"thread path", w.bucketURL("/big.bin"), w.big, false},
		{"thread nested", w.bucketURL("/docs/b.txt"), []byte("second"), false},
		{"ipns path", w.base + "/ipns/" + w.key + "/docs/a.txt", []byte("first"), false},
		{"thread index.html", w.bucketURL("/site/"), []byte(w.files["site/index.html"]), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.url)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s: %s", resp.Status, body)
			}
			if !bytes.Equal(body, tc.want) {
				t.Fatalf("got %d bytes, not the %d pushed", len(body), len(tc.want))
			}
			if resp.Header.Get("Etag") == "" {
				t.Error("no ETag")
			}
			cc := resp.Header.Get("Cache-Control")
			if immutable := strings.Contains(cc, "immutable"); immutable != tc.immutable {
				t.Errorf("Cache-Control %q; immutable should be %v", cc, tc.immutable)
			}
		})
	}
}

func TestGatewayRangeAndETag(t *testing.T) {
	w := newGatewayWorld(t)
	for name, url := range map[string]string{"ipfs": w.base + "/ipfs/" + w.bigCID, "thread": w.bucketURL("/big.bin")} {
		t.Run(name, func(t *testing.T) {
			// A range across the first chunk boundary.
			from, to := 1<<20-100, 1<<20+99
			resp, body := get(t, url, "Range", fmt.Sprintf("bytes=%d-%d", from, to))
			if resp.StatusCode != http.StatusPartialContent {
				t.Fatalf("status %s; want 206", resp.Status)
			}
			if !bytes.Equal(body, w.big[from:to+1]) {
				t.Fatalf("range body differs from bytes %d-%d", from, to)
			}
			if cr, want := resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-%d/%d", from, to, len(w.big)); cr != want {
				t.Errorf("Content-Range %q; want %q", cr, want)
			}
			// The tail.
			resp, body = get(t, url, "Range", "bytes=-10")
			if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, w.big[len(w.big)-10:]) {
				t.Fatalf("suffix range: status %s, %d bytes", resp.Status, len(body))
			}

			resp, _ = get(t, url)
			etag := resp.Header.Get("Etag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			resp, body = get(t, url, "If-None-Match", etag)
			if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
				t.Fatalf("If-None-Match: status %s, %d bytes; want 304 and no body", resp.Status, len(body))
			}
		})
	}
}

func TestGatewayHead(t *testing.T) {
	w := newGatewayWorld(t)
	for _, url := range []string{w.base + "/ipfs/" + w.bigCID, w.bucketURL("/big.bin")} {
		resp, err := noRedirects.Head(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(w.big)) || resp.Header.Get("Etag") == "" {
			t.Fatalf("HEAD %s: status %s, length %d, ETag %q", url, resp.Status, resp.ContentLength, resp.Header.Get("Etag"))
		}
	}
}

func TestGatewayBucketFollowsRoot(t *testing.T) {
	w := newGatewayWorld(t)
	url := w.bucketURL("/docs/a.txt")
	resp, _ := get(t, url)
	etag := resp.Header.Get("Etag")
	if _, err := w.bc.PushPath(w.ctx, w.key, "docs/a.txt", strings.NewReader("changed"), w.root); err != nil {
		t.Fatal(err)
	}
	resp, body := get(t, url, "If-None-Match", etag)
	if resp.StatusCode != http.StatusOK || string(body) != "changed" {
		t.Fatalf("after a push: status %s, body %q; want 200 and the new contents", resp.Status, body)
	}
	if _, body = get(t, w.base+"/ipns/"+w.key+"/docs/a.txt"); string(body) != "changed" {
		t.Fatalf("/ipns after a push: %q", body)
	}
	if err := w.bc.Remove(w.ctx, w.key); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{url, w.base + "/ipns/" + w.key + "/docs/a.txt"} {
		if resp, body := get(t, url); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s after Remove: status %s, body %q; want 404", url, resp.Status, body)
		}
	}
}

func TestGatewayDirectories(t *testing.T) {
	w := newGatewayWorld(t)
	// Without the trailing slash: a redirect that keeps the /thread form.
	resp, _ := get(t, w.bucketURL("/docs"))
	if resp.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("status %s; want 301", resp.Status)
	}
	if loc, want := resp.Header.Get("Location"), "/thread/"+w.thread+"/buckets/"+w.key+"/docs/"; loc != want {
		t.Fatalf("Location %q; want %q", loc, want)
	}
	for _, url := range []string{w.bucketURL("/docs/"), w.bucketURL("/"), w.base + w.root + "/docs/", w.base + "/ipns/" + w.key + "/"} {
		resp, body := get(t, url, "Accept", "text/html")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: status %s, type %q", url, resp.Status, resp.Header.Get("Content-Type"))
		}
		names := []string{"a.txt", "b.txt"}
		if !strings.Contains(url, "/docs/") {
			names = []string{"big.bin", "docs", "site"}
		}
		for _, n := range names {
			if !bytes.Contains(body, []byte(n)) {
				t.Errorf("%s: listing lacks %q", url, n)
			}
		}
	}
	// Links in a /thread listing stay under /thread.
	_, body := get(t, w.bucketURL("/docs/"), "Accept", "text/html")
	if want := "/thread/" + w.thread + "/buckets/" + w.key + "/docs/a.txt"; !bytes.Contains(body, []byte(want)) {
		t.Errorf("listing has no link to %s", want)
	}
}

func TestGatewayTrustless(t *testing.T) {
	w := newGatewayWorld(t)
	c := cid.MustParse(w.bigCID)

	resp, body := get(t, w.base+"/ipfs/"+w.bigCID+"?format=raw")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.ipld.raw" {
		t.Fatalf("raw: status %s, type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if got, err := c.Prefix().Sum(body); err != nil || !got.Equals(c) {
		t.Fatalf("raw block hashes to %s, not %s (%v)", got, c, err)
	}

	for name, req := range map[string][]string{
		"format=car": {w.base + "/ipfs/" + w.bigCID + "?format=car"},
		"Accept":     {w.base + "/ipfs/" + w.bigCID, "Accept", "application/vnd.ipld.car"},
		"bucket":     {w.bucketURL("/big.bin") + "?format=car"},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := get(t, req[0], req[1:]...)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/vnd.ipld.car") {
				t.Fatalf("status %s, type %q", resp.Status, resp.Header.Get("Content-Type"))
			}
			got := fileFromCAR(t, body, c)
			if !bytes.Equal(got, w.big) {
				t.Fatalf("the CAR's file is %d bytes, not the %d pushed", len(got), len(w.big))
			}
		})
	}
}

// fileFromCAR checks that every block in the CAR hashes to its CID and
// that root is the CAR's root, then reads the UnixFS file at root from
// those blocks alone.
func fileFromCAR(t *testing.T, data []byte, root cid.Cid) []byte {
	t.Helper()
	br, err := car.NewBlockReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(br.Roots) != 1 || !br.Roots[0].Equals(root) {
		t.Fatalf("CAR roots %v; want [%s]", br.Roots, root)
	}
	bs := bstore.NewBlockstore(dssync.MutexWrap(ds.NewMapDatastore()))
	n := 0
	for {
		blk, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sum, err := blk.Cid().Prefix().Sum(blk.RawData())
		if err != nil || !sum.Equals(blk.Cid()) {
			t.Fatalf("block %s hashes to %s", blk.Cid(), sum)
		}
		checked, _ := blocks.NewBlockWithCid(blk.RawData(), blk.Cid())
		if err := bs.Put(context.Background(), checked); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n < 2 {
		t.Fatalf("the CAR has %d blocks; a multi-chunk file needs more", n)
	}
	dag := merkledag.NewDAGService(blockservice.New(bs, nil))
	nd, err := dag.Get(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uio.NewDagReader(context.Background(), nd, dag)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("the CAR does not hold the whole file: %v", err)
	}
	return out
}

func TestGatewayBadRequests(t *testing.T) {
	w := newGatewayWorld(t)
	absent, err := cid.Prefix{Version: 1, Codec: cid.Raw, MhType: mh.SHA2_256, MhLength: -1}.Sum([]byte("not on this hub"))
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := buckets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url string
		want      int
	}{
		{"absent cid", w.base + "/ipfs/" + absent.String(), http.StatusNotFound},
		{"absent cid car", w.base + "/ipfs/" + absent.String() + "?format=car", http.StatusNotFound},
		{"absent cid raw", w.base + "/ipfs/" + absent.String() + "?format=raw", http.StatusNotFound},
		{"not a cid", w.base + "/ipfs/notacid", http.StatusBadRequest},
		{"missing file", w.base + w.root + "/nope.txt", http.StatusNotFound},
		{"bucket missing file", w.bucketURL("/nope.txt"), http.StatusNotFound},
		{"bucket file as dir", w.bucketURL("/docs/a.txt/x"), http.StatusNotFound},
		{"bad thread", w.base + "/thread/nothread/buckets/" + w.key + "/big.bin", http.StatusBadRequest},
		{"not buckets", w.base + "/thread/" + w.thread + "/other/" + w.key, http.StatusNotFound},
		{"no key", w.base + "/thread/" + w.thread + "/buckets/", http.StatusNotFound},
		{"bad key", w.bucketURL("")[:len(w.bucketURL(""))-len(w.key)] + "notakey/x", http.StatusBadRequest},
		{"unknown key", w.base + "/thread/" + w.thread + "/buckets/" + otherKey + "/", http.StatusNotFound},
		{"unknown ipns", w.base + "/ipns/" + otherKey + "/", http.StatusNotFound},
		{"bad ipns", w.base + "/ipns/notakey/", http.StatusBadRequest},
		{"unknown page", w.base + "/nothing", http.StatusNotFound},
	} {
		// An offline gateway answers an absent CID with 404 at once; one
		// that looked for it on the network would answer 504, or not
		// before the client gives up.
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.url)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %s (%s); want %d", resp.Status, bytes.TrimSpace(body), tc.want)
			}
		})
	}
}
