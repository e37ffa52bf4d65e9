package threadsclient_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/test/testhub"
)

// TestUserAuthRenewsRefusedToken: against a hub whose tokens last a
// second, a UserAuth whose clock stands still (so it never renews ahead
// of time) keeps every unary call working past its token's expiry by
// getting a new token when the hub refuses the old one, with a secure
// key. A stream refused for its expired token fails with
// Unauthenticated, and the call after it gets a new token.
func TestUserAuthRenewsRefusedToken(t *testing.T) {
	h := testhub.Start(t, func(c *daemon.Config) { c.TokenTTL = time.Second })
	key := appKey(t, h, true)
	priv, _ := identitytest.New(t)
	auth := threadsclient.NewUserAuth(key.Key, key.Secret, priv)
	stopped := time.Now()
	threadsclient.SetClock(auth, func() time.Time { return stopped })
	conn, err := client.Dial(context.Background(), h.Addrs.API, auth.DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc, plain := threadsclient.New(conn), threadsclient.New(h.Conn)
	ctx := context.Background()
	db, err := tc.NewDB(ctx, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	first := auth.Token()
	if first == "" {
		t.Fatal("no token after a call")
	}

	// Wait for the hub to refuse the first token, then call through the
	// UserAuth: the call works, with a new token.
	waitExpired(t, plain, key, first)
	if _, err := tc.Create(ctx, db, "notes", json.RawMessage(`{"n":1}`)); err != nil {
		t.Fatalf("a call after the token expired: %v", err)
	}
	second := auth.Token()
	if second == first {
		t.Fatal("the call worked with the expired token")
	}

	// A stream with an expired token is refused, once.
	waitExpired(t, plain, key, second)
	err = tc.Listen(ctx, db, nil, 0, func(threadsclient.ListenEvent) error { return nil })
	if !errors.Is(errors.Unauthenticated, err) || !strings.Contains(errors.Message(err), "token expired") {
		t.Fatalf("Listen with an expired token: %v; want Unauthenticated, token expired", err)
	}
	if _, err := tc.Create(ctx, db, "notes", json.RawMessage(`{"n":2}`)); err != nil {
		t.Fatalf("the call after a refused stream: %v", err)
	}
	if auth.Token() == second {
		t.Fatal("the call after a refused stream kept the expired token")
	}
}

// waitExpired waits, polling within a generous deadline, until the hub
// refuses token as expired; plain is a client on a connection without a
// UserAuth.
func waitExpired(t *testing.T, plain *threadsclient.Client, key hub.APIKey, token string) {
	t.Helper()
	ctx, err := client.WithAPIKey(context.Background(), key.Key, key.Secret)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := plain.ListDBs(client.WithToken(ctx, token))
		if errors.Is(errors.Unauthenticated, err) && strings.Contains(errors.Message(err), "token expired") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub still takes a one-second token a minute on: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUserAuthResumes: a UserAuth that resumes with a token another got
// (a cache) sends it without getting one, hands each token it does get to
// OnToken, and gets one after Resume("").
func TestUserAuthResumes(t *testing.T) {
	h := testhub.Start(t, nil)
	key := appKey(t, h, false)
	priv, _ := identitytest.New(t)
	var got []string // what OnToken saw
	call := func(auth *threadsclient.UserAuth) {
		conn, err := client.Dial(context.Background(), h.Addrs.API, auth.DialOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := threadsclient.New(conn).ListDBs(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	first := threadsclient.NewUserAuth(key.Key, key.Secret, priv)
	first.OnToken(func(token string) { got = append(got, token) })
	call(first)
	if len(got) != 1 || got[0] != first.Token() {
		t.Fatalf("OnToken saw %q; want the one token got, %q", got, first.Token())
	}

	again := threadsclient.NewUserAuth(key.Key, key.Secret, priv)
	again.OnToken(func(token string) { got = append(got, token) })
	again.Resume(first.Token())
	call(again)
	if len(got) != 1 || again.Token() != first.Token() {
		t.Fatalf("resumed with a token, the UserAuth got %q and sent %q; want none got and %q sent", got[1:], again.Token(), first.Token())
	}
	again.Resume("")
	call(again)
	if len(got) != 2 || again.Token() != got[1] {
		t.Fatalf("after Resume(\"\"), OnToken saw %q and the call sent %q; want one more token, sent", got[1:], again.Token())
	}
}

// appKey signs up a developer on h and returns a user group key of their
// app, secure or not.
func appKey(t *testing.T, h *testhub.Hub, secure bool) hub.APIKey {
	t.Helper()
	hc := hubclient.New(h.Conn)
	s, err := hc.Signup(context.Background(), "alice", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	key, err := hc.CreateKey(client.WithSession(context.Background(), s.ID), hub.UserKey, secure)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
