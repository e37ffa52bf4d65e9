package db

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/threads"
)

// TestEachIdentityWritesItsOwnLog has two identities write to one DB,
// interleaved, and reads the thread's logs back: there are exactly two,
// each holds the records of one identity's writes in the order they were
// made and nothing else, and each is the log of a key of its own, stored
// for its identity, that is not the identity's key.
func TestEachIdentityWritesItsOwnLog(t *testing.T) {
	m := newManager(t, Config{})
	alice, bob := user(t), user(t)
	d := newDB(t, m, alice) // alice's first event makes the people collection
	want := map[hub.PubKey][]string{alice.Owner(): {"collection people"}, bob.Owner(): nil}
	writes := []struct {
		who hub.Principal
		fn  func(*Txn) error
		is  string // the event, as summary writes it
	}{
		{alice, createFn(`{"_id":"a1","name":"a"}`), "create a1"},
		{bob, createFn(`{"_id":"b1","name":"b"}`), "create b1"},
		{bob, createFn(`{"_id":"b2","name":"b"}`, `{"_id":"b3","name":"b"}`), "create b2, create b3"},
		{alice, createFn(`{"_id":"a2","name":"a"}`), "create a2"},
		// A write to another identity's instance goes to the writer's log.
		{bob, func(x *Txn) error {
			return x.Save(context.Background(), [][]byte{[]byte(`{"_id":"a1","name":"by bob"}`)})
		}, "save a1"},
		{alice, func(x *Txn) error { return x.Delete(context.Background(), []string{"b1"}) }, "delete b1"},
	}
	for _, w := range writes {
		if err := write(t, d, w.who, "people", w.fn); err != nil {
			t.Fatalf("%s by %s: %v", w.is, w.who.Owner(), err)
		}
		want[w.who.Owner()] = append(want[w.who.Owner()], w.is)
	}
	if err := d.WaitRecords(context.Background()); err != nil {
		t.Fatal(err)
	}

	logs, err := m.threads.Logs(d.id)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != len(want) {
		t.Fatalf("the thread has %d logs; want one for each of the %d writers", len(logs), len(want))
	}
	byID := map[peer.ID]hub.PubKey{}
	for who := range want {
		lid, pub := storedLogKey(t, d, who)
		if other, dup := byID[lid]; dup {
			t.Fatalf("%s and %s share log %s", other, who, lid)
		}
		byID[lid] = who
		if own, err := identity.Parse(who); err != nil || own.Equals(pub) {
			t.Fatalf("%s writes its log with its own key (%v)", who, err)
		}
	}
	for _, l := range logs {
		who, ok := byID[l.ID]
		if !ok {
			t.Fatalf("log %s belongs to no writer", l.ID)
		}
		if derived, err := peer.IDFromPublicKey(l.PubKey); err != nil || derived != l.ID {
			t.Errorf("log %s: its key gives ID %s (%v)", l.ID, derived, err)
		}
		if l.PrivKey == nil {
			t.Errorf("log %s of %s: this hub cannot write it", l.ID, who)
		}
		if got := summary(t, d, l.ID); !slices.Equal(got, want[who]) {
			t.Errorf("log of %s holds %q; want %q", who, got, want[who])
		}
	}
}

// createFn returns a transaction step that creates docs.
func createFn(docs ...string) func(*Txn) error {
	return func(x *Txn) error {
		raw := make([][]byte, len(docs))
		for i, doc := range docs {
			raw[i] = []byte(doc)
		}
		_, err := x.Create(context.Background(), raw)
		return err
	}
}

// storedLogKey returns the ID and public key of the log key stored for
// identity who in d.
func storedLogKey(t *testing.T, d *DB, who hub.PubKey) (peer.ID, crypto.PubKey) {
	t.Helper()
	raw, err := d.m.st.GetRaw(writerKey(d.pfx, who))
	if err != nil {
		t.Fatalf("log key of %s: %v", who, err)
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		t.Fatalf("log key of %s: %v", who, err)
	}
	lid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return lid, key.GetPublic()
}

// summary opens each record of log lid, oldest first, and describes the
// event it carries: its operations, as "create a1, save b2", or
// "collection people".
func summary(t *testing.T, d *DB, lid peer.ID) []string {
	t.Helper()
	recs, err := d.m.threads.Records(d.id, lid)
	if err != nil {
		t.Fatal(err)
	}
	get := func(c cid.Cid) ([]byte, error) { return d.m.threads.GetBlock(d.id, c) }
	var out []string
	for _, rec := range recs {
		if rec.LogID != lid {
			t.Fatalf("log %s holds record %s of log %s", lid, rec.Cid, rec.LogID)
		}
		ev, err := threads.OpenEvent(d.info.Key, rec, get)
		if err != nil {
			t.Fatalf("record %s: %v", rec.Cid, err)
		}
		var body eventBody
		if err := json.Unmarshal(ev.Body, &body); err != nil {
			t.Fatalf("record %s: %v", rec.Cid, err)
		}
		ops := make([]string, len(body.Ops))
		for i, o := range body.Ops {
			switch o.Kind {
			case opCollSet, opCollClear:
				ops[i] = fmt.Sprint(o.Kind, " ", o.Col)
			default:
				ops[i] = fmt.Sprint(o.Kind, " ", o.ID)
			}
		}
		out = append(out, strings.Join(ops, ", "))
	}
	return out
}
