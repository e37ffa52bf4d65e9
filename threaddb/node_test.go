package threaddb_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/threaddb"
	"github.com/selfhub/hub/threads/db/threadstest"
)

// open opens a node in dir on loopback, closed when the test ends unless
// the test closes it itself (close twice is not allowed: the returned
// func closes it once).
func open(t *testing.T, dir string) (*threaddb.Node, func()) {
	t.Helper()
	n, err := threaddb.Open(t.Context(), threaddb.Config{Dir: dir, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeFn := func() {
		if !closed {
			closed = true
			if err := n.Close(); err != nil {
				t.Errorf("closing the node in %s: %v", dir, err)
			}
		}
	}
	t.Cleanup(closeFn)
	return n, closeFn
}

// TestConformance runs the ThreadDB conformance suite against an embedded
// node, a new one for each subtest.
func TestConformance(t *testing.T) {
	threadstest.Run(t, func(t *testing.T) (hub.Threads, context.Context) {
		n, _ := open(t, t.TempDir())
		return n, t.Context()
	})
}

// TestOpenRefusesNoDir: a node needs a directory.
func TestOpenRefusesNoDir(t *testing.T) {
	if _, err := threaddb.Open(t.Context(), threaddb.Config{}); err == nil {
		t.Fatal("Open without a directory succeeded")
	}
}

var itemsCollection = hub.CollectionConfig{Name: "items", Indexes: []hub.Index{{Path: "text"}}}

// waitFind polls node n's items until want is among them, or fails the
// test after a generous deadline.
func waitFind(t *testing.T, n *threaddb.Node, db hub.ThreadID, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := n.FindByID(t.Context(), db, "items", want)
		if err == nil && len(got) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s did not reach node %s: %v", want, n.PeerID(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func create(t *testing.T, n *threaddb.Node, db hub.ThreadID, id, text string) {
	t.Helper()
	doc, _ := json.Marshal(map[string]string{"_id": id, "text": text})
	if _, err := n.Create(t.Context(), db, "items", []json.RawMessage{doc}); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
}

// TestTwoNodesOffline: node B joins a DB node A made; each writes while
// the other is closed, and once both are up again each has the other's
// writes, from the peer each stored.
func TestTwoNodesOffline(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a, closeA := open(t, dirA)
	db, err := a.NewDB(t.Context(), "", hub.DBOptions{Name: "list", Collections: []hub.CollectionConfig{itemsCollection}})
	if err != nil {
		t.Fatal(err)
	}
	create(t, a, db, "a1", "from A before B joined")
	info, err := a.GetDBInfo(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := a.DBAddrs(db)
	if err != nil || len(addrs) == 0 {
		t.Fatalf("DBAddrs: %v %v", addrs, err)
	}
	b, closeB := open(t, dirB)
	if _, err := b.Join(t.Context(), addrs[0], info.Key, "list"); err != nil {
		t.Fatal(err)
	}
	waitFind(t, b, db, "a1")
	create(t, b, db, "b1", "from B, both up")
	waitFind(t, a, db, "b1")

	closeA()
	create(t, b, db, "b2", "from B while A is away")
	a, closeA = open(t, dirA)
	waitFind(t, a, db, "b2") // A syncs with B, its stored peer, on start

	closeB()
	create(t, a, db, "a2", "from A while B is away")
	b, _ = open(t, dirB)
	waitFind(t, b, db, "a2")
	closeA()
}

// TestJoinRefusals: a join needs the full key and a peer's address.
func TestJoinRefusals(t *testing.T) {
	a, _ := open(t, t.TempDir())
	db, err := a.NewDB(t.Context(), "", hub.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := a.GetDBInfo(t.Context(), db)
	addrs, _ := a.DBAddrs(db)
	b, _ := open(t, t.TempDir())
	if _, err := b.Join(t.Context(), addrs[0], info.Key[:32], ""); err == nil {
		t.Error("joining with the service key only succeeded")
	}
	if _, err := b.Join(t.Context(), "/ip4/127.0.0.1/tcp/1/thread/"+db.String(), info.Key, ""); err == nil {
		t.Error("joining from an address without a peer succeeded")
	}
	if _, err := a.Join(t.Context(), addrs[0], info.Key, ""); err == nil {
		t.Error("a node joined its own DB")
	}
}
