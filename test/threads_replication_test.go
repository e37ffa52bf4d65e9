package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/test/testhub"
)

// replHub is a hubd child process with a fixed libp2p port, so that its
// peers reach it again after it restarts, and a developer's account key.
type replHub struct {
	bin, repo string
	port      int
	p         *testhub.Process
	tc        *threadsclient.Client
	ctx       context.Context
}

func startReplHub(t *testing.T, bin, name string) *replHub {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	h := &replHub{bin: bin, repo: t.TempDir(), port: port}
	h.start(t)
	sctx, _ := signup(t, hubclient.New(testhub.Dial(t, h.p.Addrs.API)), name)
	k, err := hubclient.New(testhub.Dial(t, h.p.Addrs.API)).CreateKey(sctx, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	h.ctx = testhub.WithKey(t, k)
	return h
}

func (h *replHub) start(t *testing.T) {
	t.Helper()
	args := hubdArgs(h.repo)
	args[len(args)-1] = fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", h.port)
	h.p = testhub.StartProcess(t, h.bin, nil, args...)
	h.tc = threadsclient.New(testhub.Dial(t, h.p.Addrs.API))
}

func (h *replHub) restart(t *testing.T) {
	t.Helper()
	if err := h.p.Stop(); err != nil {
		t.Fatalf("stop hubd: %v", err)
	}
	h.start(t)
}

func (h *replHub) create(t *testing.T, db threadsclient.ID, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := h.tc.Create(h.ctx, db, "notes", json.RawMessage(`{"_id":"`+id+`","by":"`+id[:1]+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
}

// find returns the notes of db, sorted by _id.
func (h *replHub) find(t *testing.T, db threadsclient.ID) []string {
	t.Helper()
	found, err := h.tc.Find(h.ctx, db, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(found))
	for i, raw := range found {
		out[i] = string(raw)
	}
	slices.Sort(out)
	return out
}

// wait polls until db holds exactly the notes want.
func (h *replHub) wait(t *testing.T, db threadsclient.ID, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	var ids []string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		ids = ids[:0]
		for _, raw := range h.find(t, db) {
			var v struct {
				ID string `json:"_id"`
			}
			json.Unmarshal([]byte(raw), &v)
			ids = append(ids, v.ID)
		}
		if slices.Equal(ids, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub %s holds %v; want %v", h.p.Addrs.API, ids, want)
		}
		time.Sleep(50 * time.Millisecond) // polling, not waiting for state
	}
}

// TestReplicationBetweenHubs runs three hubd processes with unrelated
// accounts. B joins A's DB from its address and key and has its history
// when the call returns; writes on either side reach the other; C joins
// from B and all three converge; writes made while a hub is down reach it
// after it restarts, and its own writes made while a peer was down reach
// the peer when that one restarts. The hubs end with identical instances.
func TestReplicationBetweenHubs(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	a, b, c := startReplHub(t, bin, "alice"), startReplHub(t, bin, "bob"), startReplHub(t, bin, "carol")
	db, err := a.tc.NewDB(a.ctx, "", threadsclient.DBOptions{Name: "shared", Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	a.create(t, db, "a1", "a2")
	info, err := a.tc.GetDBInfo(a.ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Addrs) == 0 || !strings.HasSuffix(info.Addrs[0], "/thread/"+db.String()) || !strings.Contains(info.Addrs[0], fmt.Sprintf("/tcp/%d/p2p/", a.port)) {
		t.Fatalf("GetDBInfo lists %v; want the hub's libp2p address ending in /thread/%s", info.Addrs, db)
	}

	// Joining: the history is there when the call returns.
	if _, err := b.tc.NewDBFromAddr(b.ctx, info.Addrs[0], info.Key, threadsclient.JoinOptions{Name: "from-alice"}); err != nil {
		t.Fatal(err)
	}
	if got := b.find(t, db); len(got) != 2 {
		t.Fatalf("after joining, B holds %v; want A's two notes", got)
	}
	b.create(t, db, "b1")
	a.wait(t, db, "a1", "a2", "b1")
	a.create(t, db, "a3")
	b.wait(t, db, "a1", "a2", "a3", "b1")

	binfo, err := b.tc.GetDBInfo(b.ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.tc.NewDBFromAddr(c.ctx, binfo.Addrs[0], binfo.Key, threadsclient.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	c.create(t, db, "c1")
	all := []string{"a1", "a2", "a3", "b1", "c1"}
	for _, h := range []*replHub{a, b, c} {
		h.wait(t, db, all...)
	}

	// A write made while B is down reaches B once it is back.
	if err := b.p.Stop(); err != nil {
		t.Fatal(err)
	}
	a.create(t, db, "a4")
	b.start(t)
	all = append(all, "a4")
	b.wait(t, db, all...)

	// B's write made while A is down reaches A once A is back.
	if err := a.p.Stop(); err != nil {
		t.Fatal(err)
	}
	b.create(t, db, "b2")
	a.start(t)
	all = []string{"a1", "a2", "a3", "a4", "b1", "b2", "c1"}
	for _, h := range []*replHub{a, b, c} {
		h.wait(t, db, all...)
	}
	if fa, fb, fc := a.find(t, db), b.find(t, db), c.find(t, db); !slices.Equal(fa, fb) || !slices.Equal(fa, fc) {
		t.Fatalf("the hubs differ:\nA %v\nB %v\nC %v", fa, fb, fc)
	}
}

// TestNewDBFromAddrRefusals: what a caller can get wrong in NewDBFromAddr
// gets a clear status, and leaves no DB behind.
func TestNewDBFromAddrRefusals(t *testing.T) {
	a, b := testhub.Start(t, nil), testhub.Start(t, nil)
	actx, _ := signup(t, hubclient.New(a.Conn), "alice")
	bctx, _ := signup(t, hubclient.New(b.Conn), "bob")
	ta, tb := threadsclient.New(a.Conn), threadsclient.New(b.Conn)
	db, err := ta.NewDB(actx, "", threadsclient.DBOptions{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := ta.GetDBInfo(actx, db)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ta.NewDB(actx, "", threadsclient.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	otherInfo, err := ta.GetDBInfo(actx, other)
	if err != nil {
		t.Fatal(err)
	}
	addr := info.Addrs[0]
	for _, tc := range []struct {
		name string
		addr string
		key  threadsclient.Key
		kind errors.Kind
		msg  string
	}{
		{"wrong key", addr, otherInfo.Key, errors.FailedPrecondition, "refused to sync"},
		{"no peer", "/ip4/127.0.0.1/tcp/1/thread/" + db.String(), info.Key, errors.Invalid, "names no peer"},
		{"no host", "/thread/" + db.String(), info.Key, errors.Invalid, "peer's address followed by /thread/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tb.NewDBFromAddr(bctx, tc.addr, tc.key, threadsclient.JoinOptions{})
			errorstest.WantKind(t, err, tc.kind, tc.msg)
			if _, err := tb.GetDBInfo(bctx, db); !errors.Is(errors.NotExist, err) {
				t.Fatalf("after a refused join, GetDBInfo = %v; want NotExist", err)
			}
		})
	}
	// With the service key only, B would become the thread's replicator,
	// which reads nothing: collections cannot be asked for.
	_, err = tb.NewDBFromAddr(bctx, addr, info.Key.ServiceOnly(), threadsclient.JoinOptions{Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	errorstest.WantKind(t, err, errors.Invalid, "leave collections out")
	// Joining from the hub that holds it.
	_, err = ta.NewDBFromAddr(actx, addr, info.Key, threadsclient.JoinOptions{})
	errorstest.WantKind(t, err, errors.Invalid, "this hub's own")
}

// TestReplicationKill9: a hub killed with SIGKILL in the middle of catching
// up, while it was acknowledging writes of its own, loses none of them,
// and once restarted ends with the same instances as its peer.
func TestReplicationKill9(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	a, b := startReplHub(t, bin, "alice"), startReplHub(t, bin, "bob")
	db, err := a.tc.NewDB(a.ctx, "", threadsclient.DBOptions{Name: "shared", Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.tc.GetDBInfo(a.ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.tc.NewDBFromAddr(b.ctx, info.Addrs[0], info.Key, threadsclient.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	// B is killed; A writes what B will have to catch up on.
	b.p.Kill()
	var all []string
	for i := range 600 {
		all = append(all, fmt.Sprint("a", i))
	}
	a.create(t, db, all...)
	// B comes back and catches up, writing as it does; it is killed as
	// soon as some of A's records arrived.
	b.start(t)
	for i := 0; ; i++ {
		id := fmt.Sprint("b", i)
		b.create(t, db, id) // acknowledged: it must survive the kill
		all = append(all, id)
		if held := len(b.find(t, db)); held > i+1 || i == 200 {
			t.Logf("B killed holding %d of A's 600 notes and %d of its own", held-i-1, i+1)
			break
		}
	}
	b.p.Kill()
	b.start(t)
	b.wait(t, db, all...)
	a.wait(t, db, all...)
	if fa, fb := a.find(t, db), b.find(t, db); !slices.Equal(fa, fb) {
		t.Fatalf("the hubs differ:\nA %v\nB %v", fa, fb)
	}
}
