package test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/test/testhub"
)

// privateMarker is put in a private bucket's names and contents, and looked
// for in the hub's block files.
const privateMarker = "PRIVATE-PLAINTEXT-4b1d"

// blocksHold reports whether any block file of hub h contains s.
func blocksHold(t *testing.T, h *testhub.Hub, s string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(filepath.Join(h.Config.Repo, "blocks"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		found = found || bytes.Contains(b, []byte(s))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestBucketsPrivate: a private bucket on a real hubd round-trips bytes
// through the API and the gateway (ranges too) while its blocks hold no
// plaintext and its raw DAG no names; the gateway wants a reader's token;
// removing a role re-encrypts the path and shuts the identity out.
func TestBucketsPrivate(t *testing.T) {
	h := testhub.Start(t, nil)
	hc := hubclient.New(h.Conn)
	sctx, _ := signup(t, hc, "privdev")
	appKey, err := hc.CreateKey(sctx, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	owner, friend := newAppUser(t, h, appKey), newAppUser(t, h, appKey)
	db, err := threadsclient.New(h.Conn).NewDB(owner.ctx, "", threadsclient.DBOptions{Name: "buckets"})
	if err != nil {
		t.Fatal(err)
	}
	in := func(u appUser) context.Context { return client.WithThread(u.ctx, db.String()) }
	bc := bucketsclient.New(h.Conn)
	made, err := bc.Create(in(owner), "vault", bucketsclient.CreateOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	key := made.Root.Key
	if !strings.Contains(made.Links.URL, "?token=") || strings.Contains(made.Links.URL, url.QueryEscape(bearerOf(owner))) {
		t.Fatalf("links of a private bucket carry no link, or the owner's token: %+v", made.Links)
	}
	file := privateMarker + "/notes.txt"
	data := randomData(300_000)
	for _, at := range []int{0, 150_000, len(data) - len(privateMarker)} {
		copy(data[at:], privateMarker)
	}
	if _, err := bc.PushPath(in(owner), key, file, bytes.NewReader(data), ""); err != nil {
		t.Fatal(err)
	}
	pushed, _, err := bc.PushFiles(in(owner), key, "", []bucketsclient.File{{Path: "top.txt", Data: strings.NewReader("top " + privateMarker)}})
	if err != nil || len(pushed) != 1 {
		t.Fatalf("PushPaths: %v", err)
	}
	var buf bytes.Buffer
	if _, err := bc.PullPath(in(owner), key, file, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("pulled %d bytes (%v), want the %d pushed", buf.Len(), err, len(data))
	}
	it, root, err := bc.ListPath(in(owner), key, privateMarker)
	if err != nil || len(it.Items) != 1 || it.Items[0].Name != "notes.txt" || it.Items[0].Size != int64(len(data)) {
		t.Fatalf("ListPath: %+v, %v", it.Items, err)
	}
	if blocksHold(t, h, privateMarker) {
		t.Fatal("the hub's block files hold plaintext of a private bucket")
	}
	raw, err := bc.ListIPFSPath(in(owner), root.Path)
	if err != nil {
		t.Fatal(err)
	}
	var rawFile string
	for _, e := range raw.Items {
		if !strings.HasPrefix(e.Name, "~") || e.Name == "top.txt" || e.Name == buckets.SeedName || strings.Contains(e.Name, privateMarker) {
			t.Fatalf("ListIpfsPath shows the name %q", e.Name)
		}
		if !e.IsDir {
			rawFile = e.Cid
		}
	}

	// The gateway: links (?token=, read-only, scoped to a path) and user
	// tokens as Authorization: Bearer, never in a URL.
	gw := "http://" + h.Addrs.Gateway
	base := fmt.Sprintf("%s/thread/%s/buckets/%s/", gw, db, key)
	link := func(u appUser, p string) string { // the ?token=… of u's link for p
		t.Helper()
		l, err := bc.Links(in(u), key, p)
		if err != nil {
			t.Fatalf("Links of /%s: %v", p, err)
		}
		_, q, ok := strings.Cut(l.URL, "?")
		if !ok {
			t.Fatalf("a private bucket's link %q carries no link", l.URL)
		}
		return "?" + q
	}
	bearer := func(u appUser) []string { return []string{"Authorization", "Bearer " + bearerOf(u)} }
	status := func(u string, headers ...string) int {
		res, _ := get(t, u, headers...)
		return res.StatusCode
	}
	whole := link(owner, "")
	if c := status(base + file); c != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", c)
	}
	if c := status(base + file + "?token=not-a-token"); c != http.StatusUnauthorized {
		t.Fatalf("bad token: %d, want 401", c)
	}
	if c := status(base + file + "?token=" + url.QueryEscape(bearerOf(owner))); c != http.StatusUnauthorized {
		t.Fatalf("the owner's user token in a URL: %d, want 401", c)
	}
	if c := status(base+file, bearer(friend)...); c != http.StatusForbidden {
		t.Fatalf("token of an identity with no role: %d, want 403", c)
	}
	res, body := get(t, base+file+whole)
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("owner's GET: %d, %d bytes", res.StatusCode, len(body))
	}
	for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("private GET: %s = %q, want %q (the link is in the URL)", h, got, want)
		}
	}
	res, body = get(t, base+file+whole, "Range", "bytes=65530-200009")
	if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[65530:200010]) {
		t.Fatalf("range GET: %d, %d bytes", res.StatusCode, len(body))
	}
	if res, body = get(t, gw+"/ipns/"+key+"/top.txt", bearer(owner)...); res.StatusCode != http.StatusOK || string(body) != "top "+privateMarker {
		t.Fatalf("/ipns/ GET with a bearer header: %d %q", res.StatusCode, body)
	}
	if res, body = get(t, gw+"/ipns/"+key+"/top.txt"+whole); res.StatusCode != http.StatusOK || string(body) != "top "+privateMarker {
		t.Fatalf("/ipns/ GET with a link: %d %q", res.StatusCode, body)
	}
	if c := status(base + file + "?format=car&" + whole[1:]); c != http.StatusNotAcceptable {
		t.Fatalf("a CAR of a private path: %d, want 406", c)
	}
	if res, body = get(t, base+privateMarker+"/"+whole); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "notes.txt"+whole[:7]) {
		t.Fatalf("directory listing (its links keep the link): %d %q", res.StatusCode, body)
	}
	const page = "<!doctype html><title>private site</title>"
	if _, err := bc.PushPath(in(owner), key, "site/index.html", strings.NewReader(page), ""); err != nil {
		t.Fatal(err)
	}
	if res, body = get(t, base+"site/"+whole); res.StatusCode != http.StatusOK || string(body) != page {
		t.Fatalf("a directory with an index.html: %d %q; want the page", res.StatusCode, body)
	}
	if res, body = get(t, made.Links.URL); res.StatusCode != http.StatusOK && res.StatusCode != http.StatusMovedPermanently {
		t.Fatalf("the bucket's own link: %d %q", res.StatusCode, body)
	}
	if res, body = get(t, gw+"/ipfs/"+rawFile); res.StatusCode != http.StatusOK || bytes.Contains(body, []byte(privateMarker)) {
		t.Fatalf("raw /ipfs/ GET of a private file: %d, plaintext %v", res.StatusCode, bytes.Contains(body, []byte(privateMarker)))
	}
	notes := link(owner, privateMarker)
	if res, body = get(t, base+file+notes); res.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("a link of a directory, under it: %d, %d bytes", res.StatusCode, len(body))
	}
	if c := status(base + "top.txt" + notes); c != http.StatusForbidden {
		t.Fatalf("a link of a directory, outside it: %d, want 403", c)
	}

	// Roles: a reader gets in; removing the role re-encrypts and shuts it
	// out, its link too.
	if err := bc.SetPathRoles(in(owner), key, privateMarker, map[string]hub.PathRole{friend.pub: 1}); err != nil {
		t.Fatal(err)
	}
	if res, body = get(t, base+file, bearer(friend)...); res.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("reader's GET: %d, %d bytes", res.StatusCode, len(body))
	}
	friendsLink := link(friend, "")
	if res, body = get(t, base+file+friendsLink); res.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("reader's GET with its link: %d, %d bytes", res.StatusCode, len(body))
	}
	if c := status(base+"top.txt", bearer(friend)...); c != http.StatusForbidden {
		t.Fatalf("reader outside its path: %d, want 403", c)
	}
	if c := status(base + "top.txt" + friendsLink); c != http.StatusForbidden {
		t.Fatalf("reader's link outside its path: %d, want 403", c)
	}
	before, err := bc.Root(in(owner), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := bc.SetPathRoles(in(owner), key, privateMarker, map[string]hub.PathRole{friend.pub: 0}); err != nil {
		t.Fatal(err)
	}
	after, err := bc.Root(in(owner), key)
	if err != nil || after.Path == before.Path {
		t.Fatalf("removing a role did not re-encrypt (root %s → %s, %v)", before.Path, after.Path, err)
	}
	if c := status(base+file, bearer(friend)...); c != http.StatusForbidden {
		t.Fatalf("removed reader: %d, want 403", c)
	}
	if c := status(base + file + friendsLink); c != http.StatusForbidden {
		t.Fatalf("removed reader's link: %d, want 403", c)
	}
	_, err = bc.PullPath(in(friend), key, file, io.Discard)
	errorstest.WantKind(t, err, errors.Permission, "needs Reader")
	buf.Reset()
	if _, err := bc.PullPath(in(owner), key, file, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("after rotation the owner pulled %d bytes (%v)", buf.Len(), err)
	}
	if blocksHold(t, h, privateMarker) {
		t.Fatal("re-encryption left plaintext in the block files")
	}
}

// bearerOf returns the user token u sends.
func bearerOf(u appUser) string {
	md, _ := metadata.FromOutgoingContext(u.ctx)
	return strings.TrimPrefix(md.Get("authorization")[0], "bearer ")
}
