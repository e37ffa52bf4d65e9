package abuse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/test/testhub"
)

// TestOrgMembershipEndsAccess: a member of an org collects everything a
// member can get (the org's identity, API keys, tokens) while the org
// holds a private bucket; then the member leaves, or the owner removes
// the org. From then on none of it reaches the bucket, through the bucket
// API or at the gateway; GetIdentity never handed out the org's key; a
// legitimate reader of the org's app is still served while the org
// exists; another tenant is served and the bucket is unchanged.
func TestOrgMembershipEndsAccess(t *testing.T) {
	h := startHub(t)
	owner, member, bystander := newTenant(t, h, "orgowner"), newTenant(t, h, "mallory"), newTenant(t, h, "bystander")
	for _, end := range []string{"leave", "remove"} {
		t.Run(end, func(t *testing.T) {
			org, err := owner.Hub.CreateOrg(owner.Dev, "Vault "+end)
			if err != nil {
				t.Fatal(err)
			}
			octx := client.WithOrg(owner.Dev, org.Slug)
			ownerKey, err := owner.Hub.CreateKey(octx, hub.AccountKey, false)
			if err != nil {
				t.Fatal(err)
			}
			orgApp, err := owner.Hub.CreateKey(octx, hub.UserKey, false)
			if err != nil {
				t.Fatal(err)
			}
			joinOrg(t, h, owner.Hub, octx, "mallory@example.com")
			mctx := client.WithOrg(member.Dev, org.Slug)

			// The org's private bucket, and a reader the org's app admits.
			db, err := owner.Threads.NewDB(octx, "", threadsclient.DBOptions{Name: "org",
				Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
			if err != nil {
				t.Fatal(err)
			}
			in := func(ctx context.Context) context.Context { return client.WithThread(ctx, db.String()) }
			made, err := owner.Buckets.Create(in(octx), "secrets", bucketsclient.CreateOptions{Private: true})
			if err != nil {
				t.Fatal(err)
			}
			key := made.Root.Key
			secret := []byte("the org's plans for " + end)
			if _, err := owner.Buckets.PushPath(in(octx), key, "plans.txt", bytes.NewReader(secret), ""); err != nil {
				t.Fatal(err)
			}
			reader := appToken(t, owner, orgApp)
			if err := owner.Buckets.SetPathRoles(in(octx), key, "", map[string]hub.PathRole{reader.pub: 1}); err != nil {
				t.Fatal(err)
			}
			file := fmt.Sprintf("http://%s/thread/%s/buckets/%s/plans.txt", h.Addrs.Gateway, db, key)
			bearer := func(tok string) (int, string) { return httpDo(t, http.MethodGet, file, "Authorization", "Bearer "+tok) }
			if code, body := bearer(reader.token); code != http.StatusOK || body != string(secret) {
				t.Fatalf("the org app's reader at the gateway: %d %q", code, body)
			}

			// What the member collects while a member.
			priv, err := member.Hub.Identity(mctx)
			if err == nil {
				pub, _ := identity.String(priv.GetPublic())
				if pub == org.Key {
					t.Fatal("GetIdentity handed a member the org's private key")
				}
			} else if !errors.Is(errors.FailedPrecondition, err) {
				t.Fatalf("GetIdentity as the org: %v; want FailedPrecondition", err)
			}
			memberKey, err := member.Hub.CreateKey(mctx, hub.AccountKey, false)
			if err != nil {
				t.Fatal(err)
			}
			seen, err := member.Hub.ListKeys(mctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range seen {
				if k.Key == ownerKey.Key {
					t.Fatal("a member was shown another member's org account key")
				}
			}
			asOrgUser := appToken(t, member, orgApp)
			creds := map[string]context.Context{
				"session":          mctx,
				"org account key":  testhub.WithKey(t, memberKey),
				"org app user key": client.WithToken(testhub.WithKey(t, orgApp), asOrgUser.token),
			}
			tokens := map[string]string{"org app user token": asOrgUser.token, "own app user token": tokenOf(t, member.User)}
			links := map[string]string{} // the bucket's links, each read-only and acting as the org
			for _, name := range []string{"session", "org account key"} {
				if got, err := pull(member.Buckets, in(creds[name]), key); err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("a member's %s does not reach the org's bucket: %q, %v", name, got, err)
				}
				l, err := member.Buckets.Links(in(creds[name]), key, "plans.txt")
				if err != nil {
					t.Fatal(err)
				}
				if code, body := httpDo(t, http.MethodGet, l.URL); code != http.StatusOK || body != string(secret) {
					t.Fatalf("the link a member's %s got: %d %q", name, code, body)
				}
				links["link from the "+name] = l.URL
			}

			// Streams the member opened while a member: they must end too.
			streams := map[string]<-chan error{}
			for _, name := range []string{"session", "org account key"} {
				streams[name] = listening(t, member.Threads, creds[name], db, func() {
					if _, err := owner.Threads.Create(octx, db, "notes", json.RawMessage(`{"n":1}`)); err != nil {
						t.Fatal(err)
					}
				})
			}

			switch end {
			case "leave":
				err = member.Hub.LeaveOrg(mctx)
			case "remove":
				err = owner.Hub.RemoveOrg(octx)
			}
			if err != nil {
				t.Fatal(err)
			}

			for name, ctx := range creds {
				got, err := pull(member.Buckets, in(ctx), key)
				if err == nil {
					t.Errorf("after %s, the ex-member's %s pulled %q", end, name, got)
					continue
				}
				if k := errors.KindOf(err); k != errors.Permission && k != errors.NotExist && k != errors.Unauthenticated {
					t.Errorf("after %s, the ex-member's %s got %v; want PermissionDenied, NotFound or Unauthenticated", end, name, err)
				}
			}
			for name, tok := range tokens {
				if code, body := bearer(tok); code == http.StatusOK || strings.Contains(body, string(secret)) {
					t.Errorf("after %s, the ex-member's %s read the bucket at the gateway: %d", end, name, code)
				}
			}
			for name, link := range links {
				if code, body := httpDo(t, http.MethodGet, link); code == http.StatusOK || strings.Contains(body, string(secret)) {
					t.Errorf("after %s, the ex-member's %s read the bucket at the gateway: %d", end, name, code)
				}
			}
			for name, done := range streams {
				select {
				case err := <-done:
					if !errors.Is(errors.Permission, err) {
						t.Errorf("after %s, the ex-member's Listen with the %s ended with %v; want PermissionDenied", end, name, err)
					}
				case <-time.After(2 * time.Minute):
					t.Errorf("after %s, the ex-member's Listen with the %s was still open 2 minutes later", end, name)
				}
			}
			if _, err := member.Hub.Identity(mctx); err == nil {
				t.Errorf("after %s, GetIdentity as the org answered", end)
			}

			h.alive(t)
			bystander.mustBeServed(t)
			code, body := bearer(reader.token)
			switch end {
			case "leave": // the org and its reader are untouched
				if code != http.StatusOK || body != string(secret) {
					t.Fatalf("the org app's reader after a member left: %d %q", code, body)
				}
				if got, err := pull(owner.Buckets, in(octx), key); err != nil || !bytes.Equal(got, secret) {
					t.Fatalf("the owner's bucket after a member left: %q, %v", got, err)
				}
			case "remove": // the org's app went with it
				if code == http.StatusOK {
					t.Fatalf("a removed org's app user read its bucket at the gateway")
				}
			}
		})
	}
}

// appUser is an identity signed in through an app's user group key.
type appUser struct {
	pub   string
	token string
}

// appToken signs a fresh identity in through the user group key app.
func appToken(t *testing.T, tn *tenant, app hub.APIKey) appUser {
	t.Helper()
	priv, pub := identitytest.New(t)
	tok, err := tn.Threads.GetToken(testhub.WithKey(t, app), priv)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return appUser{pub: string(pub), token: tok}
}

// pull reads plans.txt of the bucket key through the bucket API.
func pull(bc *bucketsclient.Client, ctx context.Context, key string) ([]byte, error) {
	var buf bytes.Buffer
	_, err := bc.PullPath(ctx, key, "plans.txt", &buf)
	return buf.Bytes(), err
}

// tokenOf returns the user token a context from newUser carries.
func tokenOf(t *testing.T, ctx context.Context) string {
	t.Helper()
	md, _ := metadata.FromOutgoingContext(ctx)
	auth := md.Get("authorization")
	if len(auth) == 0 {
		t.Fatal("the context carries no token")
	}
	return strings.TrimPrefix(auth[0], "bearer ")
}

// listening opens a Listen on db with ctx, runs write until the stream
// has delivered an event (so it is past the door), and returns a channel
// that receives how the stream ended. The stream ends by 5 minutes at
// most: a bound that only stops a stream nothing ends from outliving the
// test, far past what the steps before its end take on a busy machine.
func listening(t *testing.T, tc *threadsclient.Client, ctx context.Context, db threadsclient.ID, write func()) <-chan error {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancel)
	seen, done := make(chan struct{}, 1), make(chan error, 1)
	go func() {
		done <- tc.Listen(ctx, db, nil, 0, func(threadsclient.ListenEvent) error {
			select {
			case seen <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		write()
		select {
		case <-seen:
			return done
		case err := <-done:
			t.Fatalf("Listen ended before any event: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("Listen delivered no event within 2 minutes")
		}
	}
}
