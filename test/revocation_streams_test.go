package test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
)

// TestRevocationEndsBlockedStreams runs in process (under the race
// detector in the suite): a Listen whose handler is blocked sending to a
// client that does not read, and a write transaction whose handler waits
// for the client's next message, both end when their key is invalidated;
// the transaction commits nothing.
func TestRevocationEndsBlockedStreams(t *testing.T) {
	h := testhub.Start(t, nil)
	hc, tc := hubclient.New(h.Conn), threadsclient.New(h.Conn)
	dev, _ := signup(t, hc, "carol")
	key, err := hc.CreateKey(dev, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	// signIn is the user, signed in with k.
	signIn := func(k hub.APIKey) context.Context { return testhub.SignIn(t, tc, k, priv) }
	user := signIn(key)
	id, err := tc.NewDB(user, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}

	// A listener on a connection with small fixed windows, never read
	// until the end, so that hubd blocks sending to it.
	conn, err := grpc.NewClient(h.Addrs.API, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(user)
	defer cancel()
	stalled, err := threadspb.NewAPIClient(conn).Listen(ctx, &threadspb.ListenRequest{DbID: id.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	big := json.RawMessage(`{"text":"` + strings.Repeat("x", 50<<10) + `"}`)
	for range 10 {
		if _, err := tc.Create(user, id, "notes", big); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := stalled.Header(); err != nil {
		t.Fatalf("the listener was not sent its first event: %v", err)
	}
	txn, err := tc.WriteTransaction(user, id, "notes")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := txn.Create(json.RawMessage(`{"text":"revoked"}`))
	if err != nil {
		t.Fatal(err)
	}

	if err := hc.InvalidateKey(dev, key.Key); err != nil {
		t.Fatal(err)
	}
	if err := txn.End(); !errors.Is(errors.Unauthenticated, err) {
		t.Fatalf("commit after the key was invalidated: %v; want Unauthenticated", err)
	}
	for {
		_, err := stalled.Recv()
		if err == nil {
			continue // events sent before the revocation
		}
		if err == io.EOF || !errors.Is(errors.Unauthenticated, rpcerr.FromStatus("Listen", err)) {
			t.Fatalf("the stalled Listen ended with %v; want Unauthenticated", err)
		}
		break
	}
	key2, err := hc.CreateKey(dev, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.FindByID(signIn(key2), id, "notes", ids[0]); !errors.Is(errors.NotExist, err) {
		t.Fatalf("the revoked transaction's instance: %v; want NotFound", err)
	}
}
