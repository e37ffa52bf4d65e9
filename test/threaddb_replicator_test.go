package test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/usersdpb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threaddb"
	"github.com/selfhub/hub/threads"
)

// openNode opens an embedded ThreadDB node in dir, on loopback.
func openNode(t *testing.T, dir string) *threaddb.Node {
	t.Helper()
	n, err := threaddb.Open(t.Context(), threaddb.Config{Dir: dir, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func closeNode(t *testing.T, n *threaddb.Node) {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

// nodeWait polls node n until its items collection of db holds id.
func nodeWait(t *testing.T, n *threaddb.Node, db hub.ThreadID, id string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		_, err := n.FindByID(t.Context(), db, "items", id)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s lacks %s: %v", n.PeerID(), id, err)
		}
		time.Sleep(50 * time.Millisecond) // polling, not waiting for state
	}
}

func nodeCreate(t *testing.T, n *threaddb.Node, db hub.ThreadID, id string) {
	t.Helper()
	doc, _ := json.Marshal(map[string]string{"_id": id})
	if _, err := n.Create(t.Context(), db, "items", []json.RawMessage{doc}); err != nil {
		t.Fatal(err)
	}
}

// TestHubAsReplicator: an app's embedded node adds a hubd child process as
// its DB's replicator through an account key. The hub cannot read the DB
// (it is none of the account's DBs), yet relays it: a second node that
// joins from the hub's address gets the history and the writes made after,
// and writes made while the first node is closed reach it through the hub
// when it opens again, though the two nodes are never up together then.
func TestHubAsReplicator(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	h := startReplHub(t, bin, "alice")
	hubAddr := ma.StringCast(h.p.Addrs.P2P[0])
	dirA, dirB := t.TempDir(), t.TempDir()

	a := openNode(t, dirA)
	db, err := a.NewDB(t.Context(), "", hub.DBOptions{Name: "list", Collections: []hub.CollectionConfig{{Name: "items"}}})
	if err != nil {
		t.Fatal(err)
	}
	nodeCreate(t, a, db, "a1")
	if err := a.AddReplicator(h.ctx, h.tc, hubAddr, db); err != nil {
		t.Fatal(err)
	}
	// The hub holds the thread, not a DB the account can read.
	if _, err := h.tc.GetDBInfo(h.ctx, db); !errors.Is(errors.NotExist, err) {
		t.Fatalf("GetDBInfo of a replicated thread on the hub: %v; want NotExist", err)
	}
	// Its records count against the account: GetUsage reports them.
	res, err := usersdpb.NewAPIServiceClient(testhub.Dial(t, h.p.Addrs.API)).GetUsage(h.ctx, &usersdpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Usage.Usage["replica_data"].GetUnits(); n <= 0 {
		t.Fatalf("GetUsage replica_data = %d after the hub pulled the DB's records; want their bytes", n)
	}
	// Adding it again is Exist.
	err = a.AddReplicator(h.ctx, h.tc, hubAddr, db)
	errorstest.WantKind(t, err, errors.Exist, "already")

	info, err := a.GetDBInfo(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	nodeCreate(t, a, db, "a2") // after the hub's first pull: pushed to it

	b := openNode(t, dirB)
	if _, err := b.Join(t.Context(), h.p.Addrs.P2P[0]+"/thread/"+db.String(), info.Key, "list"); err != nil {
		t.Fatal(err)
	}
	nodeWait(t, b, db, "a1")
	nodeWait(t, b, db, "a2") // B knows only the hub: the hub relayed it
	nodeCreate(t, b, db, "b1")
	nodeWait(t, a, db, "b1")

	closeNode(t, a)
	nodeCreate(t, b, db, "b2")
	// B's write is on the hub before B goes: wait for the hub's digest to
	// match B's by joining a third node from the hub.
	c := openNode(t, t.TempDir())
	if _, err := c.Join(t.Context(), h.p.Addrs.P2P[0]+"/thread/"+db.String(), info.Key, ""); err != nil {
		t.Fatal(err)
	}
	nodeWait(t, c, db, "b2")
	closeNode(t, c)
	closeNode(t, b)
	a = openNode(t, dirA) // syncs with the hub, its stored peer, on start
	nodeWait(t, a, db, "b2")

	// Removing the replicator deletes the hub's copy: its bytes no longer
	// count, and a second removal finds nothing.
	hubPeer, err := peer.AddrInfoFromP2pAddr(hubAddr)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveReplicator(h.ctx, h.tc, hubPeer.ID, db); err != nil {
		t.Fatal(err)
	}
	res, err = usersdpb.NewAPIServiceClient(testhub.Dial(t, h.p.Addrs.API)).GetUsage(h.ctx, &usersdpb.GetUsageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := res.Usage.Usage["replica_data"].GetUnits(); n != 0 {
		t.Fatalf("GetUsage replica_data = %d after RemoveReplicator; want 0", n)
	}
	err = h.tc.RemoveReplicator(h.ctx, db)
	errorstest.WantKind(t, err, errors.NotExist, "not found")
	closeNode(t, a)
}

// TestReplicatorRefusals: a stranger's node cannot make the hub keep its
// thread, with no API key or by syncing with the hub directly, and a key
// that can read is refused by the client before anything is sent.
func TestReplicatorRefusals(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	h := startReplHub(t, bin, "alice")
	hubAddr := ma.StringCast(h.p.Addrs.P2P[0])
	s := openNode(t, t.TempDir())
	defer closeNode(t, s)
	db, err := s.NewDB(t.Context(), "", hub.DBOptions{Collections: []hub.CollectionConfig{{Name: "items"}}})
	if err != nil {
		t.Fatal(err)
	}
	nodeCreate(t, s, db, "s1")
	info, err := s.GetDBInfo(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}

	err = s.AddReplicator(context.Background(), h.tc, hubAddr, db)
	errorstest.WantKind(t, err, errors.Unauthenticated, "")
	// A hub address where no hub listens, from a node that has not met
	// the hub yet.
	hubPeer, err := peer.AddrInfoFromP2pAddr(hubAddr)
	if err != nil {
		t.Fatal(err)
	}
	lost := openNode(t, t.TempDir())
	defer closeNode(t, lost)
	lostDB, err := lost.NewDB(t.Context(), "", hub.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = lost.AddReplicator(h.ctx, h.tc, ma.StringCast("/ip4/127.0.0.1/tcp/1/p2p/"+hubPeer.ID.String()), lostDB)
	errorstest.WantKind(t, err, errors.Unavailable, "cannot reach the hub")
	// Syncing a thread with the hub, key in hand, stores nothing there:
	// the hub refuses every request about a thread it does not hold.
	stranger := openNode(t, t.TempDir())
	defer closeNode(t, stranger)
	_, err = stranger.Join(t.Context(), h.p.Addrs.P2P[0]+"/thread/"+db.String(), info.Key, "")
	errorstest.WantKind(t, err, errors.FailedPrecondition, "no such thread")
	err = h.tc.AddReplicator(h.ctx, s.Addrs()[0].String()+"/thread/"+db.String(), mustKey(t, info.Key))
	errorstest.WantKind(t, err, errors.Invalid, "service key only")
	// None of this left the thread on the hub: the account's key can
	// still add it as replicator.
	if err := s.AddReplicator(h.ctx, h.tc, hubAddr, db); err != nil {
		t.Fatalf("adding the replicator after the refusals: %v", err)
	}
}

func mustKey(t *testing.T, b []byte) threads.Key {
	t.Helper()
	k, err := threads.KeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
