package replicate

import (
	"bufio"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// aclDB makes an access-controlled DB with collection notes on n, owned
// by n's user, and returns its ID and key.
func aclDB(t *testing.T, n *node) (threads.ID, threads.Key) {
	t.Helper()
	info, err := n.dbs.NewACLDB(context.Background(), n.user, "acl", nil, []db.CollectionConfig{{Name: "notes"}})
	if err != nil {
		t.Fatal(err)
	}
	return info.ID, info.Key
}

// aclHubs starts three hubs: A makes an access-controlled DB with
// instance a1, and B and C join it from A.
func aclHubs(t *testing.T) (a, b, c *node, id threads.ID, key threads.Key) {
	t.Helper()
	a, b, c = newNode(t, Config{}), newNode(t, Config{}), newNode(t, Config{})
	id, key = aclDB(t, a)
	create(t, a, id, "a1")
	for _, n := range []*node{b, c} {
		if _, err := n.repl.Join(context.Background(), n.user, a.addr(t), id, key, ""); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, c, id, key
}

// syncNow syncs DB id between n and to once, as n's Service would.
func (n *node) syncNow(t *testing.T, to *node, id threads.ID) {
	t.Helper()
	if err := n.repl.syncWith(context.Background(), peer.AddrInfo{ID: to.host.ID(), Addrs: to.host.Addrs()}, id); err != nil {
		t.Fatal(err)
	}
}

// open returns DB id on n as n's user sees it.
func (n *node) open(t *testing.T, id threads.ID) *db.DB {
	t.Helper()
	d, err := n.dbs.DB(context.Background(), n.user, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// role returns who's role in DB id as n reads its list.
func (n *node) role(t *testing.T, id threads.ID, who hub.PubKey) db.Role {
	t.Helper()
	members, err := n.open(t, id).ACL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.Identity == who {
			return m.Role
		}
	}
	return db.RoleNone
}

// waitRole polls until n reads who's role in DB id as want.
func (n *node) waitRole(t *testing.T, id threads.ID, who hub.PubKey, want db.Role) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for n.role(t, id, who) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s's role is %s; want %s", who, n.role(t, id, who), want)
		}
		time.Sleep(20 * time.Millisecond) // polling, not waiting for state
	}
}

// grantWriter lets b's user write DB id (owned by a's user) through b.
func grantWriter(t *testing.T, a, b *node, id threads.ID) {
	t.Helper()
	lid, err := b.open(t, id).LogID(context.Background(), b.user)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.open(t, id).Grant(context.Background(), a.user, b.user.Owner(), db.RoleWriter, []string{lid}); err != nil {
		t.Fatal(err)
	}
	b.waitRole(t, id, b.user.Owner(), db.RoleWriter)
}

// forge appends to n's own log of DB id a record creating instance iid,
// as a writer that ignores its own list would, and returns its blocks.
func forge(t *testing.T, n *node, id threads.ID, key threads.Key, iid string) []threads.Block {
	t.Helper()
	lid, err := n.open(t, id).LogID(context.Background(), n.user)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.Decode(lid)
	if err != nil {
		t.Fatal(err)
	}
	l, err := n.logs.Log(id, pid)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"t": time.Now().UnixNano(), "o": []map[string]any{{"k": "create", "c": "notes", "i": iid, "v": json.RawMessage(`{"_id":"` + iid + `"}`)}}})
	rec, blocks, err := threads.NewRecord(key, l.PrivKey, l.Head, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Cid.Equals(blocks[0].Cid) {
		t.Fatal("NewRecord's first block is not its record")
	}
	return blocks
}

// push sends records from n to peer to over DB id's stream and returns
// the answer.
func push(t *testing.T, n *node, to *node, id threads.ID, key threads.Key, recs ...[]threads.Block) answer {
	t.Helper()
	var ans answer
	err := n.repl.exchange(context.Background(), to.host.ID(), request{Op: opPush}, id, key, func(w *bufio.Writer) error {
		for _, r := range recs {
			if err := writeFrame(w, encodeRecord(r)); err != nil {
				return err
			}
		}
		return writeFrame(w, nil)
	}, func(r *bufio.Reader) error { return readJSON(r, &ans, maxRequest) })
	if err != nil {
		t.Fatal(err)
	}
	return ans
}

// TestACLWriters: in an access-controlled DB an identity writes only once
// the owner grants it a role that writes, the grant replicates, and after
// a revocation its later records are refused by every honest peer, pushed
// by the writer itself or relayed by a third, with nothing changed and
// neither peer banned.
func TestACLWriters(t *testing.T) {
	ctx := context.Background()
	a, b, c, id, key := aclHubs(t)
	for _, n := range []*node{b, c} {
		n.waitIDs(t, id, "a1")
	}
	if got := b.role(t, id, a.user.Owner()); got != db.RoleAdmin {
		t.Fatalf("on a joined hub the owner's role is %s; want admin", got)
	}

	// Not granted: refused where it is written.
	_, err := b.threads().Create(ctx, id, "notes", []json.RawMessage{json.RawMessage(`{"_id":"b0"}`)})
	errorstest.WantKind(t, err, errors.Permission, "may not write")
	// Not the owner or an admin: may not grant.
	err = c.open(t, id).Grant(ctx, c.user, c.user.Owner(), db.RoleWriter, nil)
	errorstest.WantKind(t, err, errors.Permission, "only the owner and the admins")

	grantWriter(t, a, b, id)
	create(t, b, id, "b1")
	for _, n := range []*node{a, b, c} {
		n.waitIDs(t, id, "a1", "b1")
	}

	if err := a.open(t, id).Revoke(ctx, a.user, b.user.Owner()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{b, c} {
		n.waitRole(t, id, b.user.Owner(), db.RoleNone)
	}
	_, err = b.threads().Create(ctx, id, "notes", []json.RawMessage{json.RawMessage(`{"_id":"b2"}`)})
	errorstest.WantKind(t, err, errors.Permission, "may not write")

	// B ignores its own list: its record past the cut is refused by A
	// (pushed by B) and by A again when C relays it.
	forged := forge(t, b, id, key, "b-forged")
	if ans := push(t, b, a, id, key, forged); ans.Ingested != 0 {
		t.Fatalf("A ingested a revoked writer's record: %+v", ans)
	}
	if ans := push(t, c, a, id, key, forged); ans.Ingested != 0 {
		t.Fatalf("A ingested a revoked writer's record relayed by C: %+v", ans)
	}
	b.host.Peerstore().AddAddrs(c.host.ID(), c.host.Addrs(), time.Hour)
	if ans := push(t, b, c, id, key, forged); ans.Ingested != 0 {
		t.Fatalf("C ingested a revoked writer's record: %+v", ans)
	}
	for _, n := range []*node{a, c} {
		if got := n.ids(t, id); !slices.Equal(got, []string{"a1", "b1"}) {
			t.Fatalf("after refused records, a hub holds %v; want a1 b1", got)
		}
	}
	// Nobody was banned: honest peers keep syncing.
	create(t, a, id, "a2")
	for _, n := range []*node{b, c} {
		n.waitIDs(t, id, "a1", "a2", "b1")
	}
}

// TestACLConcurrentRevocation: a record a writer makes while its
// revocation is on the way is dropped everywhere, also by a hub that got
// and applied it before the revocation reached it, so every hub ends with
// the same records and state.
func TestACLConcurrentRevocation(t *testing.T) {
	ctx := context.Background()
	a, b, c, id, _ := aclHubs(t)
	grantWriter(t, a, b, id)
	create(t, b, id, "b1")
	for _, n := range []*node{a, b, c} {
		n.waitIDs(t, id, "a1", "b1")
	}

	// Apart: nobody hands records on unless told to.
	for _, n := range []*node{a, b, c} {
		n.dbs.OnRecords(nil)
	}
	create(t, b, id, "b2")
	if err := b.dbs.WaitRecords(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.open(t, id).Revoke(ctx, a.user, b.user.Owner()); err != nil {
		t.Fatal(err)
	}
	// C hears from B first, then from A.
	sync := func(from, to *node) { t.Helper(); from.syncNow(t, to, id) }
	sync(c, b)
	if got := c.ids(t, id); !slices.Equal(got, []string{"a1", "b1", "b2"}) {
		t.Fatalf("before the revocation reached C, C holds %v; want a1 b1 b2", got)
	}
	// C's listeners are told that b2 went when the revocation drops it.
	dropped := make(chan struct{})
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go c.open(t, id).Listen(lctx, c.user, 0, nil, func(e db.Event) error {
		if e.ID == "b2" && e.Action == db.ActionDelete {
			close(dropped)
			return context.Canceled
		}
		return nil
	})
	sync(c, a)
	select {
	case <-dropped:
	case <-time.After(2 * time.Minute):
		t.Fatal("C's listener was not told that the revocation dropped b2")
	}
	sync(b, a)
	sync(a, b)
	sync(a, c)
	want := []string{"a1", "b1"}
	var digests []string
	for _, n := range []*node{a, b, c} {
		if got := n.ids(t, id); !slices.Equal(got, want) {
			t.Fatalf("after the revocation, a hub holds %v; want %v", got, want)
		}
		if got := n.role(t, id, b.user.Owner()); got != db.RoleNone {
			t.Fatalf("after the revocation, a hub reads B's role as %s", got)
		}
		heads, _, err := n.repl.heads(id)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, string(digest(heads)))
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Fatalf("the hubs hold different records: digests %q", digests)
	}
}
