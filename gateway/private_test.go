package gateway

import (
	"testing"

	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/threads"
)

// TestLinkReaches: a link reads its own bucket of its own DB, at and under
// its path, and nothing else.
func TestLinkReaches(t *testing.T) {
	thread, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	other, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	link := auth.Grant{Link: true, Thread: thread.String(), Bucket: "bkey", Path: "a/b"}
	whole := link
	whole.Path = ""
	in, elsewhere := buckets.GatewayBucket{Thread: thread}, buckets.GatewayBucket{Thread: other}
	cases := []struct {
		name string
		g    auth.Grant
		b    buckets.GatewayBucket
		key  string
		rest string
		want bool
	}{
		{"its path", link, in, "bkey", "/a/b", true},
		{"under its path", link, in, "bkey", "/a/b/c/f.txt", true},
		{"its path as a directory", link, in, "bkey", "/a/b/", true},
		{"a parent", link, in, "bkey", "/a", false},
		{"a sibling sharing a prefix", link, in, "bkey", "/a/bc", false},
		{"an escape", link, in, "bkey", "/a/b/../../c", false},
		{"another bucket", link, in, "bother", "/a/b", false},
		{"the bucket in another DB", link, elsewhere, "bkey", "/a/b", false},
		{"a whole-bucket link at the root", whole, in, "bkey", "", true},
		{"a whole-bucket link anywhere", whole, in, "bkey", "/x/y", true},
	}
	for _, c := range cases {
		if got := linkReaches(c.g, c.b, c.key, c.rest); got != c.want {
			t.Errorf("%s: linkReaches = %v, want %v", c.name, got, c.want)
		}
	}
}
