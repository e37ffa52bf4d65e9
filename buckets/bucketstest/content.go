package bucketstest

import (
	"bytes"
	"fmt"
	"github.com/selfhub/hub"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
)

func testCreate(w *world) {
	r := w.create("photos", false)
	if r.Key == "" || r.Name != "photos" || !strings.HasPrefix(r.Path, "/ipfs/") {
		w.t.Fatalf("created %+v", r)
	}
	if got := w.root(r.Key); got.Key != r.Key || got.Name != r.Name || got.Path != r.Path || got.CreatedAt != r.CreatedAt {
		w.t.Fatalf("Root = %+v, Create returned %+v", got, r)
	}
	if it := w.list(r.Key, ""); !it.IsDir || "/ipfs/"+it.Cid != r.Path {
		w.t.Fatalf("root listing %+v does not describe %s", it, r.Path)
	}
	if other := w.create("photos", false); other.Key == r.Key {
		w.t.Fatalf("two buckets share key %s", r.Key)
	}
	for _, name := range []string{"", "   "} {
		_, err := w.b.Create(w.ctx, name, hub.BucketOptions{})
		errorstest.WantKind(w.t, err, errors.Invalid, "name")
	}
}

// roundTripSizes are the file sizes around the 1 MiB chunk boundary, and
// one of several chunks.
var roundTripSizes = []int{0, 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 12345}

func testRoundTrip(w *world) {
	key := w.create("sizes", false).Key
	for _, n := range roundTripSizes {
		w.t.Run(fmt.Sprint(n), func(t *testing.T) {
			w := w.sub(t)
			data := randomData(n)
			before := w.root(key)
			path := fmt.Sprintf("sizes/%d.bin", n)
			p, err := w.b.PushPath(w.ctx, key, path, bytes.NewReader(data), before.Path)
			if err != nil {
				t.Fatal(err)
			}
			if want := ReferenceCID(t, data); p.Cid != want {
				t.Fatalf("pushed CID %s, boxo's importer gives %s", p.Cid, want)
			}
			if p.Size != int64(n) || p.Root.Key != key || p.Root.Path == before.Path {
				t.Fatalf("pushed %+v after root %s", p, before.Path)
			}
			w.wantRoot(key, p.Root.Path)
			w.wantFile(key, path, data)
			w.wantFile(key, "/"+path, data)
			it := w.list(key, path)
			if it.IsDir || it.Size != int64(n) || it.Cid != p.Cid || it.Name != fmt.Sprintf("%d.bin", n) {
				t.Fatalf("listing of %s = %+v, pushed %+v", path, it, p)
			}
		})
	}
}

func testListing(w *world) {
	key := w.create("tree", false).Key
	w.push(key, "docs/a.txt", []byte("alpha"))
	w.push(key, "docs/sub/b.txt", []byte("bravo!"))
	w.push(key, "top.txt", []byte("t"))

	docs := w.list(key, "docs")
	if !docs.IsDir || docs.Name != "docs" || !slices.Equal(names(docs), []string{"a.txt", "sub"}) {
		w.t.Fatalf("docs = %+v", docs)
	}
	a := entry(w.t, docs, "a.txt")
	if a.IsDir || a.Size != 5 || a.Cid != w.list(key, "docs/a.txt").Cid {
		w.t.Fatalf("docs/a.txt in the listing = %+v", a)
	}
	if sub := entry(w.t, docs, "sub"); !sub.IsDir || sub.Cid != w.list(key, "docs/sub").Cid {
		w.t.Fatalf("docs/sub in the listing = %+v", sub)
	}
	if again := w.list(key, "/docs/"); again.Cid != docs.Cid || !slices.Equal(names(again), names(docs)) {
		w.t.Fatalf("/docs/ lists %+v, docs lists %+v", again, docs)
	}
	root := w.list(key, "/")
	entry(w.t, root, "docs")
	if top := entry(w.t, root, "top.txt"); top.IsDir || top.Size != 1 {
		w.t.Fatalf("top.txt in the root listing = %+v", top)
	}
	w.wantGone(key, "docs/nope.txt")
	_, err := w.b.PullPath(w.ctx, key, "docs", &bytes.Buffer{})
	errorstest.WantKind(w.t, err, errors.Invalid, "")
	_, err = w.pull(key, "docs/nope.txt")
	errorstest.WantKind(w.t, err, errors.NotExist, "nope.txt")
}

func testBrokenPush(w *world) {
	key := w.create("broken", false).Key
	w.push(key, "keep.txt", []byte("keep"))
	before := w.root(key)
	if _, err := w.b.PushPath(w.ctx, key, "broken.bin", brokenReader(2<<20), ""); err == nil {
		w.t.Fatal("a push whose reader failed was accepted")
	}
	w.wantGone(key, "broken.bin")
	w.wantRoot(key, before.Path)
	w.wantFile(key, "keep.txt", []byte("keep"))
}

func testPrivate(w *world) {
	created := w.create("secret", true)
	key := created.Key
	data := randomData(1<<20 + 1)
	p, err := w.b.PushPath(w.ctx, key, "docs/plan.bin", bytes.NewReader(data), created.Path)
	if err != nil {
		w.t.Fatal(err)
	}
	if p.Size != int64(len(data)) {
		w.t.Fatalf("pushed %d bytes, the result says %d", len(data), p.Size)
	}
	if p.Cid == ReferenceCID(w.t, data) {
		w.t.Fatal("a private bucket stored the file in plaintext")
	}
	w.wantFile(key, "docs/plan.bin", data)
	notes := w.push(key, "docs/notes.txt", []byte("meet at noon"))
	w.wantRoot(key, notes.Root.Path)
	w.wantFile(key, "docs/notes.txt", []byte("meet at noon"))

	docs := w.list(key, "docs")
	if !slices.Equal(names(docs), []string{"notes.txt", "plan.bin"}) {
		w.t.Fatalf("private listing shows %v, want the plaintext names", names(docs))
	}
	if e := entry(w.t, docs, "plan.bin"); e.IsDir || e.Size != int64(len(data)) {
		w.t.Fatalf("plan.bin in the listing = %+v, want %d plaintext bytes", e, len(data))
	}
	if it := w.list(key, "docs/plan.bin"); it.Size != int64(len(data)) || it.Name != "plan.bin" {
		w.t.Fatalf("listing of plan.bin = %+v", it)
	}
	entry(w.t, w.list(key, ""), "docs")

	if err := w.b.MovePath(w.ctx, key, "docs/plan.bin", "archive/plan.bin"); err != nil {
		w.t.Fatal(err)
	}
	w.wantFile(key, "archive/plan.bin", data)
	w.wantGone(key, "docs/plan.bin")
	if _, err := w.b.RemovePath(w.ctx, key, "docs", ""); err != nil {
		w.t.Fatal(err)
	}
	w.wantGone(key, "docs/notes.txt")
	w.wantFile(key, "archive/plan.bin", data)
}

func testPushPaths(w *world) {
	key := w.create("batch", false).Key
	r0 := w.push(key, "keep.txt", []byte("keep")).Root
	files := map[string][]byte{
		"batch/a.txt": []byte("alpha"),
		"batch/b.bin": randomData(1<<20 + 1),
		"c.txt":       {},
	}
	order := []string{"batch/a.txt", "batch/b.bin", "c.txt"}
	// The files' chunks interleave, as a client may send them.
	got, r1, err := w.b.PushPaths(w.ctx, key, r0.Path, interleaved(order, files))
	if err != nil {
		w.t.Fatal(err)
	}
	if len(got) != len(files) || r1.Key != key || r1.Path == r0.Path {
		w.t.Fatalf("PushPaths = %+v, root %+v after %s", got, r1, r0.Path)
	}
	for _, f := range got {
		data, ok := files[f.Path]
		if !ok || f.Size != int64(len(data)) || f.Cid != ReferenceCID(w.t, data) {
			w.t.Fatalf("stored %+v", f)
		}
	}
	// One change: the root PushPaths returns is the bucket's, and the
	// one before it is now stale for every kind of change.
	w.wantRoot(key, r1.Path)
	for _, p := range order {
		w.wantFile(key, p, files[p])
	}
	_, _, err = w.b.PushPaths(w.ctx, key, r0.Path, chunks(file{Path: "late.txt", Data: bytes.NewReader([]byte("late"))}))
	errorstest.WantKind(w.t, err, errors.FailedPrecondition, r1.Path)
	w.wantGone(key, "late.txt")

	// All or nothing: a bad path or a broken file among good ones stores
	// none of them.
	for name, bad := range map[string]file{
		"bad path":    {Path: "x/../y", Data: bytes.NewReader([]byte("y"))},
		"broken file": {Path: "broken.bin", Data: brokenReader(1 << 20)},
	} {
		w.t.Run(name, func(t *testing.T) {
			w := w.sub(t)
			_, _, err := w.b.PushPaths(w.ctx, key, r1.Path, chunks(file{Path: "new.txt", Data: bytes.NewReader([]byte("new"))}, bad))
			if err == nil {
				t.Fatal("PushPaths with a bad file succeeded")
			}
			w.wantGone(key, "new.txt")
			w.wantRoot(key, r1.Path)
		})
	}
}

// interleaved yields the files' chunks round-robin, 64 KiB of each file in
// turn, each file ended after its last data.
func interleaved(order []string, files map[string][]byte) func() (hub.Chunk, error) {
	const size = 64 << 10
	var out []hub.Chunk
	rest := map[string][]byte{}
	for _, p := range order {
		rest[p] = files[p]
	}
	for len(rest) > 0 {
		for _, p := range order {
			data, open := rest[p]
			if !open {
				continue
			}
			if len(data) == 0 {
				out = append(out, hub.Chunk{Path: p})
				delete(rest, p)
				continue
			}
			n := min(size, len(data))
			out = append(out, hub.Chunk{Path: p, Data: data[:n]})
			rest[p] = data[n:]
		}
	}
	return func() (hub.Chunk, error) {
		if len(out) == 0 {
			return hub.Chunk{}, io.EOF
		}
		c := out[0]
		out = out[1:]
		return c, nil
	}
}
