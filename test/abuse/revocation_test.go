package abuse

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/testhub"
)

// TestRevocationEndsOpenStreams: a user holds a Listen and a write
// transaction open with the app's key; the developer invalidates the key.
// The Listen ends with Unauthenticated, the transaction's commit fails,
// nothing it wrote is stored, and another tenant is served throughout.
func TestRevocationEndsOpenStreams(t *testing.T) {
	h := startHub(t)
	victim, other := newTenant(t, h, "mallory"), newTenant(t, h, "alice")
	user := victim.User
	id := victim.notesDB(t)

	// The Listen is open once it has delivered an event.
	listening := make(chan struct{})
	listenErr := make(chan error, 1)
	listenCtx, stopListen := context.WithTimeout(user, 2*time.Minute)
	defer stopListen()
	go func() {
		first := true
		listenErr <- victim.Threads.Listen(listenCtx, id, nil, 0, func(threadsclient.ListenEvent) error {
			if first {
				first = false
				close(listening)
			}
			return nil
		})
	}()
	deadline := time.After(30 * time.Second)
	for open := false; !open; {
		if _, err := victim.Threads.Create(user, id, "notes", json.RawMessage(`{"text":"before"}`)); err != nil {
			t.Fatalf("Create: %v", err)
		}
		select {
		case <-listening:
			open = true
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("the Listen delivered no event within 30s")
		}
	}
	txn, err := victim.Threads.WriteTransaction(user, id, "notes")
	if err != nil {
		t.Fatalf("WriteTransaction: %v", err)
	}
	ids, err := txn.Create(json.RawMessage(`{"text":"in the revoked transaction"}`))
	if err != nil {
		t.Fatalf("txn Create: %v", err)
	}

	revoked := time.Now()
	if err := victim.Hub.InvalidateKey(victim.Dev, victim.AppKey.Key); err != nil {
		t.Fatalf("InvalidateKey: %v", err)
	}
	select {
	case err := <-listenErr:
		if !errors.Is(errors.Unauthenticated, err) {
			t.Fatalf("Listen ended with %v; want Unauthenticated", err)
		}
		t.Logf("the Listen ended %s after InvalidateKey: %v", time.Since(revoked).Round(time.Millisecond), err)
	case <-time.After(30 * time.Second):
		t.Fatal("the Listen is still open 30s after its key was invalidated")
	}
	if err := txn.End(); !errors.Is(errors.Unauthenticated, err) {
		t.Fatalf("committing the transaction after its key was invalidated gave %v; want Unauthenticated", err)
	}
	if _, err := victim.Threads.Create(user, id, "notes", json.RawMessage(`{"text":"after"}`)); !errors.Is(errors.Unauthenticated, err) {
		t.Fatalf("Create with the invalidated key gave %v; want Unauthenticated", err)
	}

	// The same user, through a new key of the app, finds nothing of the
	// transaction.
	newKey, err := victim.Hub.CreateKey(victim.Dev, victim.AppKey.Type, false)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	keyed := testhub.WithKey(t, newKey)
	tok, err := victim.Threads.GetToken(keyed, victim.UserKey)
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	if _, err := victim.Threads.FindByID(client.WithToken(keyed, tok), id, "notes", ids[0]); !errors.Is(errors.NotExist, err) {
		t.Fatalf("FindByID of the revoked transaction's instance gave %v; want NotFound", err)
	}
	other.mustBeServed(t)
	h.alive(t)
}

// notesDB makes a DB of the tenant's user with a collection "notes".
func (tn *tenant) notesDB(t testing.TB) threadsclient.ID {
	t.Helper()
	id, err := tn.Threads.NewDB(tn.User, "", threadsclient.DBOptions{
		Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatalf("NewDB: %v", err)
	}
	return id
}
