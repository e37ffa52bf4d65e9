package buckets

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/selfhub/hub/errors"
)

func TestCleanPath(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"/", nil, true},
		{"///", nil, true},
		{"a", []string{"a"}, true},
		{"/a/b/", []string{"a", "b"}, true},
		{"a b/c.txt", []string{"a b", "c.txt"}, true},
		{".hidden/..dots/...", []string{".hidden", "..dots", "..."}, true},
		{"a//b", nil, false},
		{"a/./b", nil, false},
		{"..", nil, false},
		{"a/../b", nil, false},
		{"/../etc/passwd", nil, false},
		{"a\\b", nil, false},
		{"a\x00b", nil, false},
		{"\xff", nil, false},
		{strings.Repeat("x", MaxNameLen), []string{strings.Repeat("x", MaxNameLen)}, true},
		{strings.Repeat("x", MaxNameLen+1), nil, false},
		{strings.Repeat("a/", MaxPathLen/2+1), nil, false},
	}
	for _, c := range cases {
		got, err := CleanPath(c.in)
		if c.ok != (err == nil) {
			t.Errorf("CleanPath(%q) err = %v, want ok=%v", errors.Clip(c.in), err, c.ok)
			continue
		}
		if err != nil && errors.KindOf(err) != errors.Invalid {
			t.Errorf("CleanPath(%q) kind = %v, want Invalid", errors.Clip(c.in), errors.KindOf(err))
		}
		if c.ok && !slices.Equal(got, c.want) {
			t.Errorf("CleanPath(%q) = %q, want %q", errors.Clip(c.in), got, c.want)
		}
	}
}

// FuzzCleanPath checks that an accepted path has only safe segments and
// that its segments, joined again, parse to themselves.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"", "/", "a/b/c", "a//b", "../x", "a/./b", "x\\y", "\x00", "é/ü", "/a/b/", strings.Repeat("z", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, err := CleanPath(p)
		if err != nil {
			if errors.KindOf(err) != errors.Invalid {
				t.Fatalf("CleanPath(%q) failed with kind %v, want Invalid", p, errors.KindOf(err))
			}
			return
		}
		if len(p) > MaxPathLen || !utf8.ValidString(p) {
			t.Fatalf("CleanPath accepted %q", p)
		}
		for _, s := range segs {
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") || len(s) > MaxNameLen {
				t.Fatalf("CleanPath(%q) gave unsafe segment %q", p, s)
			}
		}
		again, err := CleanPath(join(segs))
		if err != nil || !slices.Equal(again, segs) {
			t.Fatalf("CleanPath(join(%q)) = %q, %v", segs, again, err)
		}
	})
}
