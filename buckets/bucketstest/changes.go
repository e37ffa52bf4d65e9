package bucketstest

import (
	"bytes"
	"slices"
	"strings"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
)

func testFastForward(w *world) {
	created := w.create("ff", false)
	key := created.Key
	p1, err := w.b.PushPath(w.ctx, key, "a.txt", bytes.NewReader([]byte("one")), created.Path)
	if err != nil {
		w.t.Fatal(err)
	}
	cur := p1.Root.Path

	// created.Path is stale now: every fast-forward change is refused,
	// naming the current root, and changes nothing.
	_, err = w.b.PushPath(w.ctx, key, "b.txt", bytes.NewReader([]byte("two")), created.Path)
	errorstest.WantKind(w.t, err, errors.FailedPrecondition, cur)
	_, err = w.b.PushPath(w.ctx, key, "a.txt", bytes.NewReader([]byte("overwritten")), created.Path)
	errorstest.WantKind(w.t, err, errors.FailedPrecondition, cur)
	_, err = w.b.RemovePath(w.ctx, key, "a.txt", created.Path)
	errorstest.WantKind(w.t, err, errors.FailedPrecondition, cur)
	_, _, err = w.b.PushPaths(w.ctx, key, created.Path, chunks(file{Path: "c.txt", Data: bytes.NewReader([]byte("three"))}))
	errorstest.WantKind(w.t, err, errors.FailedPrecondition, cur)
	w.wantRoot(key, cur)
	w.wantFile(key, "a.txt", []byte("one"))
	w.wantGone(key, "b.txt")
	w.wantGone(key, "c.txt")

	_, err = w.b.PushPath(w.ctx, key, "b.txt", bytes.NewReader([]byte("two")), "/ipfs/zzz")
	errorstest.WantKind(w.t, err, errors.Invalid, "not /ipfs/")

	// The current root, also as a bare CID, fast-forwards; no root forces.
	p2, err := w.b.PushPath(w.ctx, key, "b.txt", bytes.NewReader([]byte("two")), strings.TrimPrefix(cur, "/ipfs/"))
	if err != nil {
		w.t.Fatal(err)
	}
	p3, err := w.b.PushPath(w.ctx, key, "c.txt", bytes.NewReader([]byte("three")), "")
	if err != nil {
		w.t.Fatal(err)
	}
	if p2.Root.Path == cur || p3.Root.Path == p2.Root.Path {
		w.t.Fatalf("roots did not move: %s, %s, %s", cur, p2.Root.Path, p3.Root.Path)
	}
	w.wantRoot(key, p3.Root.Path)
	w.wantFile(key, "a.txt", []byte("one"))
	w.wantFile(key, "b.txt", []byte("two"))
	w.wantFile(key, "c.txt", []byte("three"))
}

func testSetPath(w *world) {
	key := w.create("set", false).Key
	f := w.push(key, "src/f.txt", []byte("file"))
	dir := w.list(key, "src").Cid

	if err := w.b.SetPath(w.ctx, key, "copy/f.txt", f.Cid); err != nil {
		w.t.Fatal(err)
	}
	w.wantFile(key, "copy/f.txt", []byte("file"))
	if got := w.list(key, "copy/f.txt").Cid; got != f.Cid {
		w.t.Fatalf("set %s, listed %s", f.Cid, got)
	}
	if err := w.b.SetPath(w.ctx, key, "mirror", dir); err != nil {
		w.t.Fatal(err)
	}
	w.wantFile(key, "mirror/f.txt", []byte("file"))
	w.wantFile(key, "src/f.txt", []byte("file"))

	before := w.root(key).Path
	err := w.b.SetPath(w.ctx, key, "", f.Cid)
	errorstest.WantKind(w.t, err, errors.Invalid, "file")
	err = w.b.SetPath(w.ctx, key, "x", "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")
	errorstest.WantKind(w.t, err, errors.NotExist, "not in this hub")
	err = w.b.SetPath(w.ctx, key, "x", "not-a-cid")
	errorstest.WantKind(w.t, err, errors.Invalid, "")
	w.wantRoot(key, before)

	// An empty path replaces the whole root with the directory.
	if err := w.b.SetPath(w.ctx, key, "", dir); err != nil {
		w.t.Fatal(err)
	}
	w.wantRoot(key, "/ipfs/"+dir)
	if got := names(w.list(key, "")); !slices.Equal(got, []string{"f.txt"}) {
		w.t.Fatalf("root replaced by src holds %v", got)
	}
	w.wantFile(key, "f.txt", []byte("file"))
}

func testMovePath(w *world) {
	key := w.create("move", false).Key
	w.push(key, "a/one.txt", []byte("1"))
	w.push(key, "a/two.txt", []byte("2"))
	w.push(key, "x.txt", []byte("x"))

	if err := w.b.MovePath(w.ctx, key, "a/one.txt", "c/uno.txt"); err != nil {
		w.t.Fatal(err)
	}
	w.wantFile(key, "c/uno.txt", []byte("1"))
	w.wantGone(key, "a/one.txt")
	if err := w.b.MovePath(w.ctx, key, "a", "b"); err != nil {
		w.t.Fatal(err)
	}
	w.wantFile(key, "b/two.txt", []byte("2"))
	w.wantGone(key, "a")
	// Moving onto a file replaces it.
	if err := w.b.MovePath(w.ctx, key, "b/two.txt", "x.txt"); err != nil {
		w.t.Fatal(err)
	}
	w.wantFile(key, "x.txt", []byte("2"))
	w.wantGone(key, "b/two.txt")

	before := w.root(key).Path
	for _, c := range []struct {
		name, from, to string
		kind           errors.Kind
		hint           string
	}{
		{"into itself", "c", "c/inner", errors.Invalid, "into itself"},
		{"the root", "", "z", errors.Invalid, "root"},
		{"onto the root", "x.txt", "/", errors.Invalid, "root"},
		{"onto itself", "x.txt", "/x.txt", errors.Invalid, "same path"},
		{"a missing path", "nope", "y", errors.NotExist, ""},
	} {
		err := w.b.MovePath(w.ctx, key, c.from, c.to)
		if !errors.Is(c.kind, err) || !strings.Contains(err.Error(), c.hint) {
			w.t.Errorf("move %s: %v, want kind %v saying %q", c.name, err, c.kind, c.hint)
		}
	}
	w.wantRoot(key, before)
}

func testRemovePath(w *world) {
	key := w.create("remove", false).Key
	w.push(key, "d/one.txt", []byte("1"))
	w.push(key, "d/sub/two.txt", []byte("2"))
	r := w.push(key, "keep.txt", []byte("keep")).Root

	after, err := w.b.RemovePath(w.ctx, key, "d/one.txt", r.Path)
	if err != nil {
		w.t.Fatal(err)
	}
	if after.Key != key || after.Path == r.Path {
		w.t.Fatalf("RemovePath returned %+v after %s", after, r.Path)
	}
	w.wantRoot(key, after.Path)
	w.wantGone(key, "d/one.txt")
	w.wantFile(key, "d/sub/two.txt", []byte("2"))

	if _, err := w.b.RemovePath(w.ctx, key, "/d/", ""); err != nil {
		w.t.Fatal(err)
	}
	w.wantGone(key, "d")
	w.wantGone(key, "d/sub/two.txt")
	w.wantFile(key, "keep.txt", []byte("keep"))

	before := w.root(key).Path
	for _, p := range []string{"", "/"} {
		_, err := w.b.RemovePath(w.ctx, key, p, "")
		errorstest.WantKind(w.t, err, errors.Invalid, "root")
	}
	_, err = w.b.RemovePath(w.ctx, key, "nope", "")
	errorstest.WantKind(w.t, err, errors.NotExist, "")
	w.wantRoot(key, before)
}
