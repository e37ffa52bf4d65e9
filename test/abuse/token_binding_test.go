package abuse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
)

// TestTokenBoundToApp: one identity is a user of two apps. Its token from
// app A, sent with app B's key, reaches nothing of its data in app B: the
// threads API refuses to read and write and the buckets API to push, each
// saying the token is another app's, and the gateway finds no such bucket
// for it; app B's data is unchanged and both apps are still served.
func TestTokenBoundToApp(t *testing.T) {
	h := startHub(t)
	appA, appB := newTenant(t, h, "appa"), newTenant(t, h, "appb")
	victim := appB.UserKey
	tokA, err := appA.Threads.GetToken(testhub.WithKey(t, appA.AppKey), victim)
	if err != nil {
		t.Fatalf("the same identity signs in to app A: %v", err)
	}

	// The identity's data in app B: an instance, a bucket, a private one.
	db, err := appB.Threads.NewDB(appB.User, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := appB.Threads.Create(appB.User, db, "notes", json.RawMessage(`{"text":"B's data"}`))
	if err != nil {
		t.Fatal(err)
	}
	inB := client.WithThread(appB.User, db.String())
	files, err := appB.Buckets.Create(inB, "files", bucketsclient.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vault, err := appB.Buckets.Create(inB, "vault", bucketsclient.CreateOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{files.Root.Key, vault.Root.Key} {
		if _, err := appB.Buckets.PushPath(inB, key, "f.txt", strings.NewReader("B's file"), ""); err != nil {
			t.Fatal(err)
		}
	}

	// App A's token with app B's key.
	cross := client.WithToken(testhub.WithKey(t, appB.AppKey), tokA)
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(errors.Unauthenticated, err) || !strings.Contains(errors.Message(err), "issued for another app") {
			t.Errorf("%s with another app's token: %v; want Unauthenticated: issued for another app", what, err)
		}
	}
	_, err = appB.Threads.FindByID(cross, db, "notes", ids[0])
	refused("FindByID", err)
	_, err = appB.Threads.ListDBs(cross)
	refused("ListDBs", err)
	_, err = appB.Threads.Create(cross, db, "notes", json.RawMessage(`{"text":"written by A's token"}`))
	refused("Create", err)
	err = appB.Threads.Save(cross, db, "notes", json.RawMessage(fmt.Sprintf(`{"_id":%q,"text":"overwritten by A's token"}`, ids[0])))
	refused("Save", err)
	_, err = appB.Buckets.PushPath(client.WithThread(cross, db.String()), files.Root.Key, "f.txt", strings.NewReader("overwritten"), "")
	refused("PushPath", err)
	_, err = appB.Buckets.PullPath(client.WithThread(cross, db.String()), vault.Root.Key, "f.txt", io.Discard)
	refused("PullPath", err)

	// At the gateway, a bearer token of app A reads nothing of app B's:
	// app B's buckets are out of its reach, as through the bucket API.
	gw := fmt.Sprintf("http://%s/thread/%s/buckets/%s/f.txt", h.Addrs.Gateway, db, vault.Root.Key)
	if code, body := httpDo(t, http.MethodGet, gw, "Authorization", "Bearer "+tokA); code != http.StatusNotFound || strings.Contains(body, "B's file") {
		t.Errorf("the gateway with another app's bearer token: %d %q; want 404", code, body)
	}
	tokB := tokenOf(t, appB.User)
	if code, body := httpDo(t, http.MethodGet, gw, "Authorization", "Bearer "+tokB); code != http.StatusOK || body != "B's file" {
		t.Errorf("the gateway with the app's own bearer token: %d %q; want the file", code, body)
	}

	// Nothing of app B's changed.
	all, err := appB.Threads.Find(appB.User, db, "notes", nil)
	if err != nil || len(all) != 1 || !bytes.Contains(all[0], []byte(`"B's data"`)) {
		t.Fatalf("app B's notes after the attack: %s (%v); want just the one written", all, err)
	}
	for _, key := range []string{files.Root.Key, vault.Root.Key} {
		var got bytes.Buffer
		if _, err := appB.Buckets.PullPath(inB, key, "f.txt", &got); err != nil || got.String() != "B's file" {
			t.Fatalf("app B's file after the attack: %q (%v)", got.String(), err)
		}
	}
	appA.mustBeServed(t)
	appB.mustBeServed(t)
	h.alive(t)
}

// TestPrivateLinkScope: the link that Links gives for a path of a private
// bucket is a read-only capability: the gateway serves GETs under that
// path of that bucket with it and nothing else, and the gRPC APIs refuse
// it as a token.
func TestPrivateLinkScope(t *testing.T) {
	h := startHub(t)
	tn, other := newTenant(t, h, "linker"), newTenant(t, h, "other")
	db, err := tn.Threads.NewDB(tn.User, "", threadsclient.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := client.WithThread(tn.User, db.String())
	var keys []string
	for _, name := range []string{"vault", "vault2"} {
		made, err := tn.Buckets.Create(in, name, bucketsclient.CreateOptions{Private: true})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, made.Root.Key)
		for _, p := range []string{"a/secret.txt", "b/other.txt"} {
			if _, err := tn.Buckets.PushPath(in, made.Root.Key, p, strings.NewReader("contents of "+p), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	vault := keys[0]
	links, err := tn.Buckets.Links(in, vault, "a")
	if err != nil {
		t.Fatal(err)
	}
	link := linkOf(t, links.URL)
	if link == tokenOf(t, tn.User) {
		t.Fatal("a private bucket's link carries the user's token")
	}
	gw := "http://" + h.Addrs.Gateway
	at := func(key, p string) string {
		return fmt.Sprintf("%s/thread/%s/buckets/%s/%s?token=%s", gw, db, key, p, url.QueryEscape(link))
	}
	if code, body := httpDo(t, http.MethodGet, at(vault, "a/secret.txt")); code != http.StatusOK || body != "contents of a/secret.txt" {
		t.Fatalf("GET under the link's path: %d %q", code, body)
	}
	ipns, _, _ := strings.Cut(links.IPNS, "?")
	if code, body := httpDo(t, http.MethodGet, ipns+"/secret.txt?token="+url.QueryEscape(link)); code != http.StatusOK || body != "contents of a/secret.txt" {
		t.Fatalf("GET under the link's /ipns/ path: %d %q", code, body)
	}
	for _, c := range []struct {
		name, method, url string
		code              int
	}{
		{"another path of the bucket", http.MethodGet, at(vault, "b/other.txt"), http.StatusForbidden},
		{"the bucket's root", http.MethodGet, at(vault, ""), http.StatusForbidden},
		{"the same path of another bucket", http.MethodGet, at(keys[1], "a/secret.txt"), http.StatusForbidden},
		{"a PUT under the path", http.MethodPut, at(vault, "a/secret.txt"), http.StatusMethodNotAllowed},
		{"a DELETE under the path", http.MethodDelete, at(vault, "a/secret.txt"), http.StatusMethodNotAllowed},
	} {
		if code, body := httpDo(t, c.method, c.url); code != c.code {
			t.Errorf("%s with the link: %d %q; want %d", c.name, code, body, c.code)
		}
	}

	// The link as a gRPC bearer token.
	asToken := client.WithThread(client.WithToken(testhub.WithKey(t, tn.AppKey), link), db.String())
	gatewayOnly := func(what string, err error) {
		t.Helper()
		if !errors.Is(errors.Unauthenticated, err) || !strings.Contains(errors.Message(err), "only the HTTP gateway accepts") {
			t.Errorf("%s with a link as the token: %v; want Unauthenticated: only the gateway accepts links", what, err)
		}
	}
	_, err = tn.Buckets.PullPath(asToken, vault, "a/secret.txt", io.Discard)
	gatewayOnly("PullPath", err)
	_, err = tn.Buckets.PushPath(asToken, vault, "a/secret.txt", strings.NewReader("overwritten"), "")
	gatewayOnly("PushPath", err)
	_, err = tn.Threads.ListDBs(asToken)
	gatewayOnly("ListDBs", err)

	var got bytes.Buffer
	if _, err := tn.Buckets.PullPath(in, vault, "a/secret.txt", &got); err != nil || got.String() != "contents of a/secret.txt" {
		t.Fatalf("the file after the attempts: %q (%v)", got.String(), err)
	}
	other.mustBeServed(t)
	h.alive(t)
}

// TestTokenAndLinkExpiry: on a hub with short --token-ttl and --link-ttl, a
// token and a link stop working once expired, with a message that says how
// to get a new one, and a new token and link work again.
func TestTokenAndLinkExpiry(t *testing.T) {
	const ttl = 10 * time.Second
	h := startHub(t, "--token-ttl", ttl.String(), "--link-ttl", ttl.String())
	tn, other := newTenant(t, h, "shortlived"), newTenant(t, h, "other")
	// The bucket is the developer's: sessions do not expire with tokens.
	db, err := tn.Threads.NewDB(tn.Dev, "", threadsclient.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := client.WithThread(tn.Dev, db.String())
	made, err := tn.Buckets.Create(in, "vault", bucketsclient.CreateOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Buckets.PushPath(in, made.Root.Key, "f.txt", strings.NewReader("the file"), ""); err != nil {
		t.Fatal(err)
	}
	links, err := tn.Buckets.Links(in, made.Root.Key, "f.txt")
	if err != nil {
		t.Fatal(err)
	}

	// Poll until both have expired; the deadline is generous.
	deadline := time.Now().Add(ttl + 60*time.Second)
	var tokenErr error
	linkCode, linkBody := 0, ""
	for tokenErr == nil || linkCode == http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("a token and a link of a %s lifetime still work after %s (token: %v, link: %d)", ttl, ttl+60*time.Second, tokenErr, linkCode)
		}
		if tokenErr == nil {
			_, tokenErr = tn.Threads.ListDBs(tn.User)
		}
		if linkCode == 0 || linkCode == http.StatusOK {
			linkCode, linkBody = httpDo(t, http.MethodGet, links.URL)
			if linkCode == http.StatusOK && linkBody != "the file" {
				t.Fatalf("the link gave %q", linkBody)
			}
		}
		time.Sleep(200 * time.Millisecond) // between polls only
	}
	if !errors.Is(errors.Unauthenticated, tokenErr) || !strings.Contains(errors.Message(tokenErr), "token expired; get a new one with GetToken") {
		t.Fatalf("an expired token: %v; want Unauthenticated: token expired, get a new one", tokenErr)
	}
	if linkCode != http.StatusUnauthorized || !strings.Contains(linkBody, "link expired") {
		t.Fatalf("an expired link: %d %q; want 401, link expired", linkCode, linkBody)
	}

	// Renewing works: a new token, a new link. A renewal that expires
	// before it is used (a stalled machine) is renewed again.
	renewing(t, "ListDBs with a renewed token", func() error {
		renew(t, tn)
		_, err := tn.Threads.ListDBs(tn.User)
		return err
	})
	renewing(t, "GET with a new link", func() error {
		links, err := tn.Buckets.Links(in, made.Root.Key, "f.txt")
		if err != nil {
			return err
		}
		if code, body := httpDo(t, http.MethodGet, links.URL); code != http.StatusOK || body != "the file" {
			return fmt.Errorf("GET %d: %s", code, body)
		}
		return nil
	})
	renewing(t, "the other tenant, renewing", func() error {
		renew(t, other)
		return other.served()
	})
	h.alive(t)
}

// renewing runs fn until it succeeds, at most five times, trying again
// only when it failed because a token or link expired.
func renewing(t *testing.T, what string, fn func() error) {
	t.Helper()
	var err error
	for range 5 {
		if err = fn(); err == nil || !strings.Contains(err.Error(), "expired") {
			break
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// renew gets a new token for the tenant's user, as a client told its
// token expired does.
func renew(t *testing.T, tn *tenant) {
	t.Helper()
	tn.User = testhub.SignIn(t, tn.Threads, tn.AppKey, tn.UserKey)
}

// linkOf returns the ?token= of a link.
func linkOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("link %q carries no ?token= (%v)", link, err)
	}
	return u.Query().Get("token")
}

// httpDo makes one request to the gateway, with header pairs, and returns
// its status and body.
func httpDo(t *testing.T, method, u string, hdr ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}
