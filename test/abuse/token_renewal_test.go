package abuse

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

// TestTokenRenewal: tokens last two seconds (--token-ttl 2s); a
// long-lived Go client holding the identity's private key
// (threadsclient.UserAuth) calls on and on and is never refused: it
// renews its token ahead of expiry, again and again, and its first token,
// expired, is refused by the hub. Streams opened after the renewals (a
// bucket push and pull) work too. (No other tenant is checked: any
// client without a UserAuth would need a new token every two seconds.)
func TestTokenRenewal(t *testing.T) {
	h := startHub(t, "--token-ttl", "2s")
	app := newTenant(t, h, "longlived")
	priv, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	auth := threadsclient.NewUserAuth(app.AppKey.Key, app.AppKey.Secret, priv)
	conn, err := client.Dial(context.Background(), h.Addrs.API, auth.DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc, bc := threadsclient.New(conn), bucketsclient.New(conn)
	ctx := context.Background()
	db, err := tc.NewDB(ctx, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	first := auth.Token()

	// Call until the client has held three tokens (each renewed after
	// three quarters of its two seconds, so the first has expired by then).
	seen := map[string]bool{first: true}
	deadline := time.Now().Add(time.Minute)
	calls := 0
	for len(seen) < 3 {
		ids, err := tc.Create(ctx, db, "notes", json.RawMessage(`{"text":"still signed in"}`))
		if err != nil {
			t.Fatalf("call %d of a long-lived client: %v", calls, err)
		}
		if _, err := tc.FindByID(ctx, db, "notes", ids[0]); err != nil {
			t.Fatalf("call %d of a long-lived client: %v", calls, err)
		}
		calls++
		seen[auth.Token()] = true
		if time.Now().After(deadline) {
			t.Fatalf("the client held %d tokens in a minute of calls; want it to renew its two-second tokens", len(seen))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d calls over three tokens", calls)

	keyed := testhub.WithKey(t, app.AppKey)
	if _, err := app.Threads.ListDBs(client.WithToken(keyed, first)); !errors.Is(errors.Unauthenticated, err) || !strings.Contains(errors.Message(err), "token expired") {
		t.Fatalf("the client's first token, sent again: %v; want Unauthenticated, token expired", err)
	}

	// A stream is not tried again by the client: one whose token, fresh
	// when the client sent it, expired before the hub read it (a machine
	// stalled for half a second) is opened again, as an app would.
	in := client.WithThread(ctx, db.String())
	var key string
	renewing(t, "bucket Create", func() error {
		made, err := bc.Create(in, "renewed", bucketsclient.CreateOptions{})
		if err == nil {
			key = made.Root.Key
		}
		return err
	})
	data := []byte("pushed with a renewed token")
	renewing(t, "PushPath with a renewed token", func() error {
		_, err := bc.PushPath(in, key, "f.txt", bytes.NewReader(data), "")
		return err
	})
	renewing(t, "PullPath with a renewed token", func() error {
		var pulled bytes.Buffer
		if _, err := bc.PullPath(in, key, "f.txt", &pulled); err != nil {
			return err
		}
		if !bytes.Equal(pulled.Bytes(), data) {
			t.Fatalf("PullPath: %q; want %q", pulled.Bytes(), data)
		}
		return nil
	})
	h.alive(t)
}
