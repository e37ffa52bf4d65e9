package test

import (
	"strings"
	"testing"

	"github.com/selfhub/hub/buckets"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/test/testhub"
)

// TestBucketWebsite serves a bucket as a website on <key>.<buckets
// domain>: index.html at /, files by path, directory redirects, 404s, and
// the hub's own pages untouched on other hosts.
func TestBucketWebsite(t *testing.T) {
	const domain = "buckets.test"
	h := testhub.Start(t, func(c *daemon.Config) { c.BucketsDomain = domain })
	w := newBucketsUser(t, h, "website")
	created, err := w.bc.Create(w.ctx, "site", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key := created.Root.Key
	if want := "http://" + key + "." + domain; created.Links.WWW != want {
		t.Errorf("Links.WWW = %q; want %q", created.Links.WWW, want)
	}
	files := map[string]string{
		"index.html":      "<!doctype html><title>home</title>welcome",
		"css/site.css":    "body { color: teal }",
		"blog/index.html": "<!doctype html><title>blog</title>posts",
	}
	root := created.Root.Path
	for p, body := range files {
		pushed, err := w.bc.PushPath(w.ctx, key, p, strings.NewReader(body), root)
		if err != nil {
			t.Fatal(err)
		}
		root = pushed.Root.Path
	}
	host := key + "." + domain + ":8006" // any port
	_, unknown, err := buckets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, host, path string
		code             int
		body             string
	}{
		{"index at the root", host, "/", 200, files["index.html"]},
		{"a file", host, "/css/site.css", 200, files["css/site.css"]},
		{"a directory's index", host, "/blog/", 200, files["blog/index.html"]},
		{"upper-case host", strings.ToUpper(key) + "." + domain, "/css/site.css", 200, files["css/site.css"]},
		{"missing file", host, "/nope.html", 404, ""},
		{"unknown bucket", unknown + "." + domain, "/", 404, ""},
		{"not a key", "not-a-key." + domain, "/", 400, ""},
		{"other hosts keep the hub's pages", "127.0.0.1", "/health", 200, `{"status":"ok"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, "http://"+h.Addrs.Gateway+c.path, "Host", c.host)
			if resp.StatusCode != c.code {
				t.Fatalf("GET %s%s = %d %q; want %d", c.host, c.path, resp.StatusCode, body, c.code)
			}
			if c.body != "" && strings.TrimSpace(string(body)) != c.body {
				t.Fatalf("GET %s%s = %q; want %q", c.host, c.path, body, c.body)
			}
		})
	}
	// A directory without its slash redirects within the website.
	resp, _ := get(t, "http://"+h.Addrs.Gateway+"/blog", "Host", host)
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || loc != "/blog/" {
		t.Fatalf("GET /blog = %d Location %q; want a redirect to /blog/", resp.StatusCode, loc)
	}
}
