package abuse

import (
	"bytes"
	"context"
	"fmt"
	"github.com/selfhub/hub"
	"net/http"
	"testing"

	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// TestStarReaderMeansOneThing: a private bucket path gives "*" Reader. "*"
// is every identity of the bucket's account (app), so a user of the same
// app reads the path both through the bucket API and at the gateway, and
// a user of another app is refused at both doors with the same answer
// (not found: another app's buckets are invisible to it). The bucket is
// unchanged and both tenants are still served.
func TestStarReaderMeansOneThing(t *testing.T) {
	h := startHub(t)
	owner, stranger := newTenant(t, h, "starowner"), newTenant(t, h, "stranger")
	db, err := owner.Threads.NewDB(owner.User, "", threadsclient.DBOptions{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	in := client.WithThread(owner.User, db.String())
	made, err := owner.Buckets.Create(in, "docs", bucketsclient.CreateOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	key := made.Root.Key
	data := []byte("for everyone of this app")
	if _, err := owner.Buckets.PushPath(in, key, "pub/readme.txt", bytes.NewReader(data), ""); err != nil {
		t.Fatal(err)
	}
	if err := owner.Buckets.SetPathRoles(in, key, "pub", map[string]hub.PathRole{"*": 1}); err != nil {
		t.Fatal(err)
	}
	before, err := owner.Buckets.Root(in, key)
	if err != nil {
		t.Fatal(err)
	}
	file := fmt.Sprintf("http://%s/thread/%s/buckets/%s/pub/readme.txt", h.Addrs.Gateway, db, key)
	colleague, _ := owner.newUser(t)

	cases := []struct {
		name string
		bc   *bucketsclient.Client
		user context.Context // the user's key and token
		code int             // at the gateway
		kind errors.Kind     // through the bucket API; Other: served
	}{
		{"a user of the same app", owner.Buckets, colleague, http.StatusOK, errors.Other},
		{"a user of another app", stranger.Buckets, stranger.User, http.StatusNotFound, errors.NotExist},
	}
	for _, c := range cases {
		code, body := httpDo(t, http.MethodGet, file, "Authorization", "Bearer "+tokenOf(t, c.user))
		if code != c.code || (code == http.StatusOK) != (body == string(data)) {
			t.Errorf("%s at the gateway: %d %q; want %d", c.name, code, body, c.code)
		}
		var buf bytes.Buffer
		_, err := c.bc.PullPath(client.WithThread(c.user, db.String()), key, "pub/readme.txt", &buf)
		switch {
		case c.kind == errors.Other && (err != nil || !bytes.Equal(buf.Bytes(), data)):
			t.Errorf("%s through the bucket API: %q, %v; want the file", c.name, buf.Bytes(), err)
		case c.kind != errors.Other && !errors.Is(c.kind, err):
			t.Errorf("%s through the bucket API: %v; want %v", c.name, err, c.kind)
		}
	}

	h.alive(t)
	owner.mustBeServed(t)
	stranger.mustBeServed(t)
	if after, err := owner.Buckets.Root(in, key); err != nil || after.Path != before.Path {
		t.Fatalf("the bucket changed: root %s → %s (%v)", before.Path, after.Path, err)
	}
}
