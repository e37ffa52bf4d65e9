package bucketstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"github.com/selfhub/hub"
	"io"
	"slices"
	"testing"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
)

// Run runs the suite against the implementation open returns, with the
// context its calls run in (a client's carries its credentials and DB; a
// service bound to a caller needs only the test's). open is called once for
// each subtest and must return Buckets over an empty DB that nobody else
// uses, so subtests do not see each other's buckets.
func Run(t *testing.T, open func(t *testing.T) (hub.Buckets, context.Context)) {
	tests := []struct {
		name string
		run  func(w *world)
	}{
		{"Create", testCreate},
		{"RoundTrip", testRoundTrip},
		{"Listing", testListing},
		{"FastForward", testFastForward},
		{"BrokenPush", testBrokenPush},
		{"SetPath", testSetPath},
		{"MovePath", testMovePath},
		{"RemovePath", testRemovePath},
		{"BadPaths", testBadPaths},
		{"UnknownBucket", testUnknownBucket},
		{"RemovedBucket", testRemovedBucket},
		{"Private", testPrivate},
		{"PushPaths", testPushPaths},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, ctx := open(t)
			tc.run(&world{t: t, ctx: ctx, b: b})
		})
	}
}

// world is one subtest's Buckets with helpers that fail the test on
// errors the subtest does not expect.
type world struct {
	t   *testing.T
	ctx context.Context
	b   hub.Buckets
}

// sub is w for the subtest t.
func (w *world) sub(t *testing.T) *world { return &world{t: t, ctx: w.ctx, b: w.b} }

func (w *world) create(name string, private bool) hub.Bucket {
	w.t.Helper()
	c, err := w.b.Create(w.ctx, name, hub.BucketOptions{Private: private})
	if err != nil {
		w.t.Fatalf("create %s: %v", name, err)
	}
	return c.Root
}

func (w *world) root(key string) hub.Bucket {
	w.t.Helper()
	r, err := w.b.Root(w.ctx, key)
	if err != nil {
		w.t.Fatalf("root of %s: %v", key, err)
	}
	return r
}

// push stores data at path, forced.
func (w *world) push(key, path string, data []byte) hub.Pushed {
	w.t.Helper()
	p, err := w.b.PushPath(w.ctx, key, path, bytes.NewReader(data), "")
	if err != nil {
		w.t.Fatalf("push %s: %v", path, err)
	}
	return p
}

func (w *world) pull(key, path string) ([]byte, error) {
	var buf bytes.Buffer
	_, err := w.b.PullPath(w.ctx, key, path, &buf)
	return buf.Bytes(), err
}

// wantFile fails the test unless the file at path holds want.
func (w *world) wantFile(key, path string, want []byte) {
	w.t.Helper()
	got, err := w.pull(key, path)
	if err != nil {
		w.t.Fatalf("pull %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		w.t.Fatalf("pull %s: %d bytes that differ from the %d pushed", path, len(got), len(want))
	}
}

// wantGone fails the test unless nothing is at path.
func (w *world) wantGone(key, path string) {
	w.t.Helper()
	_, _, err := w.b.ListPath(w.ctx, key, path)
	errorstest.WantKind(w.t, err, errors.NotExist, "")
}

// wantRoot fails the test unless the bucket is at root.
func (w *world) wantRoot(key, root string) {
	w.t.Helper()
	if got := w.root(key).Path; got != root {
		w.t.Fatalf("bucket is at %s, want %s", got, root)
	}
}

func (w *world) list(key, path string) hub.BucketItem {
	w.t.Helper()
	it, _, err := w.b.ListPath(w.ctx, key, path)
	if err != nil {
		w.t.Fatalf("list %q: %v", path, err)
	}
	return it
}

// names returns the names of a directory's entries, sorted.
func names(it hub.BucketItem) []string {
	var out []string
	for _, e := range it.Items {
		out = append(out, e.Name)
	}
	slices.Sort(out)
	return out
}

// entry returns the entry of it named name.
func entry(t *testing.T, it hub.BucketItem, name string) hub.BucketItem {
	t.Helper()
	for _, e := range it.Items {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("directory %s has no entry %q; it has %v", it.Name, name, names(it))
	return hub.BucketItem{}
}

func randomData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// brokenReader yields n random bytes and then fails, like a client whose
// disk fails mid-upload.
func brokenReader(n int) io.Reader {
	return io.MultiReader(bytes.NewReader(randomData(n)), failing{})
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.E(errors.Internal, "disk on fire") }
