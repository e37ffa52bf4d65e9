package bucketstest

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
)

// Limits on paths, as buckets.MaxNameLen and buckets.MaxPathLen (not
// imported: see the package comment).
const (
	maxNameLen = 255
	maxPathLen = 4096
)

func testBadPaths(w *world) {
	key := w.create("bad", false).Key
	w.push(key, "keep.txt", []byte("keep"))
	w.push(key, strings.Repeat("n", maxNameLen), []byte("the longest name"))
	before := w.root(key).Path

	long := strings.Repeat(strings.Repeat("p", 99)+"/", maxPathLen/100+1)
	bad := []struct{ name, path, hint string }{
		{"dot dot inside", "a/../b", `".."`},
		{"dot dot first", "../keep.txt", `".."`},
		{"dot", "./keep.txt", `"."`},
		{"empty segment", "a//b", "empty segment"},
		{"long name", "a/" + strings.Repeat("n", maxNameLen+1), "limit is 255"},
		{"long path", long, "limit is 4096"},
		{"NUL", "a\x00b", "NUL"},
		{"backslash", `a\b`, "backslash"},
	}
	for _, c := range bad {
		w.t.Run(c.name, func(t *testing.T) {
			w := w.sub(t)
			_, err := w.b.PushPath(w.ctx, key, c.path, bytes.NewReader([]byte("x")), "")
			errorstest.WantKind(t, err, errors.Invalid, c.hint)
			_, _, err = w.b.PushPaths(w.ctx, key, "", chunks(file{Path: c.path, Data: bytes.NewReader([]byte("x"))}))
			errorstest.WantKind(t, err, errors.Invalid, c.hint)
			_, err = w.b.PullPath(w.ctx, key, c.path, io.Discard)
			errorstest.WantKind(t, err, errors.Invalid, c.hint)
			_, _, err = w.b.ListPath(w.ctx, key, c.path)
			errorstest.WantKind(t, err, errors.Invalid, c.hint)
			_, err = w.b.RemovePath(w.ctx, key, c.path, "")
			errorstest.WantKind(t, err, errors.Invalid, c.hint)
			err = w.b.MovePath(w.ctx, key, c.path, "ok.txt")
			errorstest.WantKind(t, err, errors.Invalid, c.hint)
			err = w.b.MovePath(w.ctx, key, "keep.txt", c.path)
			errorstest.WantKind(t, err, errors.Invalid, c.hint)
		})
	}
	for _, p := range []string{"", "/"} {
		_, err := w.b.PushPath(w.ctx, key, p, bytes.NewReader([]byte("x")), "")
		errorstest.WantKind(w.t, err, errors.Invalid, "path is empty")
	}
	_, err := w.b.PushPath(w.ctx, key, "keep.txt/under", bytes.NewReader([]byte("x")), "")
	errorstest.WantKind(w.t, err, errors.Invalid, "")
	w.wantRoot(key, before)
	w.wantFile(key, "keep.txt", []byte("keep"))
	w.wantFile(key, strings.Repeat("n", maxNameLen), []byte("the longest name"))
}

// unknownKey is a well-formed bucket key that nobody made.
const unknownKey = "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8"

// everyOp calls each operation of b on the bucket key with valid
// arguments, for the subtests that check how a key is refused.
func everyOp(w *world, key string) map[string]error {
	ctx := w.ctx
	errs := map[string]error{}
	_, errs["Root"] = w.b.Root(ctx, key)
	_, errs["PushPath"] = w.b.PushPath(ctx, key, "x.txt", bytes.NewReader([]byte("x")), "")
	_, _, errs["PushPaths"] = w.b.PushPaths(ctx, key, "", chunks(file{Path: "x.txt", Data: bytes.NewReader([]byte("x"))}))
	_, errs["PullPath"] = w.b.PullPath(ctx, key, "keep.txt", io.Discard)
	_, _, errs["ListPath"] = w.b.ListPath(ctx, key, "")
	errs["MovePath"] = w.b.MovePath(ctx, key, "keep.txt", "moved.txt")
	_, errs["RemovePath"] = w.b.RemovePath(ctx, key, "keep.txt", "")
	errs["Remove"] = w.b.Remove(ctx, key)
	return errs
}

func testUnknownBucket(w *world) {
	for _, c := range []struct {
		name, key string
		kind      errors.Kind
		hint      string
	}{
		{"unknown", unknownKey, errors.NotExist, "not found"},
		{"malformed", "not-a-key", errors.Invalid, "not a bucket key"},
		{"empty", "", errors.Invalid, "key is empty"},
	} {
		w.t.Run(c.name, func(t *testing.T) {
			for op, err := range everyOp(w.sub(t), c.key) {
				if !errors.Is(c.kind, err) || !strings.Contains(err.Error(), c.hint) {
					t.Errorf("%s: %v, want kind %v saying %q", op, err, c.kind, c.hint)
				}
			}
		})
	}
}

func testRemovedBucket(w *world) {
	gone := w.create("gone", false).Key
	w.push(gone, "keep.txt", []byte("keep"))
	other := w.create("other", false).Key
	w.push(other, "keep.txt", []byte("theirs"))
	if err := w.b.Remove(w.ctx, gone); err != nil {
		w.t.Fatal(err)
	}
	for op, err := range everyOp(w, gone) {
		if !errors.Is(errors.NotExist, err) {
			w.t.Errorf("%s on a removed bucket: %v, want NotExist", op, err)
		}
	}
	w.wantFile(other, "keep.txt", []byte("theirs"))
}
