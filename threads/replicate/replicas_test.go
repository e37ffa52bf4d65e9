package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
)

// TestReplica: a hub given a thread's service key keeps every record of
// it, can read none (no DB, a key without the read key, no instance text
// anywhere in its store), counts its bytes against the account that added
// it, and hands the records on to a peer that joins from it with the full
// key.
func TestReplica(t *testing.T) {
	a, r, b := newNode(t, Config{}), newNode(t, Config{}), newNode(t, Config{})
	id, key := hosted(t, a)
	create(t, a, id, "a1", "a2")
	if _, err := r.repl.Join(context.Background(), r.user, a.addr(t), id, key.ServiceOnly(), ""); err != nil {
		t.Fatal(err)
	}
	info, err := r.logs.Thread(id)
	if err != nil {
		t.Fatal(err)
	}
	if info.Key.CanRead() {
		t.Fatal("the replica's thread holds the read key")
	}
	if _, err := r.dbs.Owner(context.Background(), id); !errors.Is(errors.NotExist, err) {
		t.Fatalf("the replicator holds a DB of the thread: %v", err)
	}
	n, err := r.repl.ReplicaBytes(context.Background(), r.user.Account)
	if err != nil || n == 0 {
		t.Fatalf("ReplicaBytes = %d, %v; want the records' bytes", n, err)
	}
	create(t, a, id, "a3") // pushed to the replicator, its peer now
	if _, err := a.threads().Create(context.Background(), id, "notes", []json.RawMessage{json.RawMessage(`{"_id":"a4","text":"plaintext only readers see"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.repl.Join(context.Background(), b.user, r.addr(t), id, key, ""); err != nil {
		t.Fatal(err)
	}
	b.waitIDs(t, id, "a1", "a2", "a3", "a4")
	create(t, b, id, "b1")
	a.waitIDs(t, id, "a1", "a2", "a3", "a4", "b1") // through the replicator

	// Nothing readable reached the replicator: no key or value in its
	// store holds an instance's text, an _id or the read key.
	// A member's store, scanned the same way, does hold the text.
	readKey, _ := key.Read()
	holds := func(n *node) error {
		return n.st.Scan(nil, func(k, v []byte) error {
			for _, secret := range [][]byte{[]byte("plaintext only readers see"), []byte(`"a4"`), readKey.Bytes()} {
				if bytes.Contains(k, secret) || bytes.Contains(v, secret) {
					return fmt.Errorf("the store holds %q at %q", secret, k)
				}
			}
			return nil
		})
	}
	if err := holds(r); err != nil {
		t.Fatalf("replicator: %v", err)
	}
	if err := holds(b); err == nil {
		t.Fatal("a member's store holds none of the DB's text: the scan sees nothing")
	}
	if m, _ := r.repl.ReplicaBytes(context.Background(), r.user.Account); m <= n {
		t.Fatalf("ReplicaBytes stayed at %d after more records", m)
	}
}

// TestReplicaLimits: an anonymous caller, an account past MaxReplicas
// and a thread past MaxReplicaBytes are refused, and a refused replica
// leaves nothing behind.
func TestReplicaLimits(t *testing.T) {
	a := newNode(t, Config{})
	few, small := newNode(t, Config{MaxReplicas: 1}), newNode(t, Config{MaxReplicaBytes: 1})
	id1, key1 := hosted(t, a)
	create(t, a, id1, "a1")
	key2, id2 := key1, id1
	{
		k, err := a.threads().NewDB(context.Background(), "", hub.DBOptions{Name: "second", Collections: []hub.CollectionConfig{{Name: "notes"}}})
		if err != nil {
			t.Fatal(err)
		}
		info, err := a.dbs.DB(context.Background(), a.user, k)
		if err != nil {
			t.Fatal(err)
		}
		id2, key2 = k, info.Info().Key
	}

	_, err := few.repl.Join(context.Background(), hub.Principal{}, a.addr(t), id1, key1.ServiceOnly(), "")
	errorstest.WantKind(t, err, errors.Unauthenticated, "API key")
	if _, err := few.repl.Join(context.Background(), few.user, a.addr(t), id1, key1.ServiceOnly(), ""); err != nil {
		t.Fatal(err)
	}
	_, err = few.repl.Join(context.Background(), few.user, a.addr(t), id1, key1.ServiceOnly(), "")
	errorstest.WantKind(t, err, errors.Exist, "holds thread")
	_, err = few.repl.Join(context.Background(), few.user, a.addr(t), id2, key2.ServiceOnly(), "")
	errorstest.WantKind(t, err, errors.Exhausted, "its limit")
	if _, err := few.logs.Thread(id2); !errors.Is(errors.NotExist, err) {
		t.Fatalf("a refused replica was kept: %v", err)
	}

	_, err = small.repl.Join(context.Background(), small.user, a.addr(t), id1, key1.ServiceOnly(), "")
	errorstest.WantKind(t, err, errors.Exhausted, "past its limit")
	if _, err := small.logs.Thread(id1); !errors.Is(errors.NotExist, err) {
		t.Fatalf("a replica past its bytes was kept: %v", err)
	}
	if n, err := small.repl.ReplicaBytes(context.Background(), small.user.Account); err != nil || n != 0 {
		t.Fatalf("after the refusal the account's replicas take %d bytes (%v); want 0", n, err)
	}
}

// TestDropReplica: only the principal a replica is kept for stops it;
// then its records are gone and its account no longer counts them.
func TestDropReplica(t *testing.T) {
	a, r := newNode(t, Config{}), newNode(t, Config{})
	id, key := hosted(t, a)
	create(t, a, id, "a1")
	if _, err := r.repl.Join(context.Background(), r.user, a.addr(t), id, key.ServiceOnly(), ""); err != nil {
		t.Fatal(err)
	}
	err := r.repl.DropReplica(context.Background(), user(t), id)
	errorstest.WantKind(t, err, errors.NotExist, "replicates no thread")
	other := r.user
	other.Account = "banother"
	err = r.repl.DropReplica(context.Background(), other, id)
	errorstest.WantKind(t, err, errors.NotExist, "replicates no thread")
	if err := r.repl.DropReplica(context.Background(), r.user, id); err != nil {
		t.Fatal(err)
	}
	if _, err := r.logs.Thread(id); !errors.Is(errors.NotExist, err) {
		t.Fatalf("after DropReplica the thread is still kept: %v", err)
	}
	if n, err := r.repl.ReplicaBytes(context.Background(), r.user.Account); err != nil || n != 0 {
		t.Fatalf("after DropReplica the account's replicas take %d bytes (%v); want 0", n, err)
	}
	err = r.repl.DropReplica(context.Background(), r.user, id)
	errorstest.WantKind(t, err, errors.NotExist, "replicates no thread")
	// The account may add it again: nothing of the first is left.
	if _, err := r.repl.Join(context.Background(), r.user, a.addr(t), id, key.ServiceOnly(), ""); err != nil {
		t.Fatal(err)
	}
}
