package replicate

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/logstore"
)

// node is one hub's replication in process: a real store, log store, DB
// manager and libp2p host on loopback.
type node struct {
	st   *store.Store
	logs *logstore.Store
	dbs  *db.Manager
	host host.Host
	repl *Service
	user hub.Principal
	// close stops the hub; a test's cleanup does unless it did.
	close func()
}

func newNode(t testing.TB, cfg Config) *node {
	t.Helper()
	return openNode(t, cfg, t.TempDir(), user(t), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
}

// openNode starts a hub for user on the store in dir, with its libp2p
// host made with opts (and loopback TCP only).
func openNode(t testing.TB, cfg Config, dir string, u hub.Principal, opts ...libp2p.Option) *node {
	t.Helper()
	st, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(append([]libp2p.Option{libp2p.DisableRelay()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{st: st, logs: logstore.NewStore(st), host: h, user: u}
	n.dbs = db.NewManager(db.Config{}, st, n.logs)
	if _, bench := t.(*testing.B); !bench { // a benchmark's log would cost what it measures
		cfg.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n.repl = New(cfg, h, st, n.logs, n.dbs)
	var once sync.Once
	n.close = func() {
		once.Do(func() {
			n.repl.Close()
			h.Close()
			n.dbs.WaitRecords(context.Background())
			st.Close()
		})
	}
	t.Cleanup(n.close)
	return n
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// addr is the address of DB id on n: its host address, /p2p/<peer>.
func (n *node) addr(t testing.TB) ma.Multiaddr {
	t.Helper()
	a, err := ma.NewMultiaddr(fmt.Sprintf("%s/p2p/%s", n.host.Addrs()[0], n.host.ID()))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (n *node) threads() hub.Threads { return n.dbs.Threads(n.user) }

// ids returns the sorted _ids of collection notes in DB id on n.
func (n *node) ids(t testing.TB, id threads.ID) []string {
	t.Helper()
	found, err := n.threads().Find(context.Background(), id, "notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, raw := range found {
		var v struct {
			ID string `json:"_id"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.ID)
	}
	slices.Sort(out)
	return out
}

// waitIDs polls until DB id on n holds exactly want.
func (n *node) waitIDs(t testing.TB, id threads.ID, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := n.ids(t, id)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("DB holds %v; want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling, not waiting for state
	}
}

func user(t testing.TB) hub.Principal {
	t.Helper()
	_, pub := identitytest.New(t)
	return hub.Principal{Kind: hub.UserPrincipal, Account: "bdev", Identity: pub}
}

func create(t testing.TB, n *node, id threads.ID, ids ...string) {
	t.Helper()
	for _, i := range ids {
		if _, err := n.threads().Create(context.Background(), id, "notes", []json.RawMessage{json.RawMessage(`{"_id":"` + i + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
}

// hosted makes a DB with collection notes on n and returns its ID and key.
func hosted(t testing.TB, n *node) (threads.ID, threads.Key) {
	t.Helper()
	key, err := threads.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	id, err := n.threads().NewDB(context.Background(), "", hub.DBOptions{Name: "shared", Key: key.Bytes(), Collections: []hub.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	return id, key
}

// TestJoin: a DB's history is there when Join returns, then writes on
// either side arrive on the other, and a third hub that joins from the
// second gets the writes of all three.
func TestJoin(t *testing.T) {
	a, b, c := newNode(t, Config{}), newNode(t, Config{}), newNode(t, Config{})
	id, key := hosted(t, a)
	create(t, a, id, "a1", "a2", "a3")
	if _, err := b.repl.Join(context.Background(), b.user, a.addr(t), id, key, "joined"); err != nil {
		t.Fatal(err)
	}
	if got := b.ids(t, id); !slices.Equal(got, []string{"a1", "a2", "a3"}) {
		t.Fatalf("after Join, B holds %v; want the history a1 a2 a3", got)
	}
	create(t, b, id, "b1")
	a.waitIDs(t, id, "a1", "a2", "a3", "b1")
	create(t, a, id, "a4")
	b.waitIDs(t, id, "a1", "a2", "a3", "a4", "b1")

	if _, err := c.repl.Join(context.Background(), c.user, b.addr(t), id, key, ""); err != nil {
		t.Fatal(err)
	}
	create(t, c, id, "c1")
	create(t, a, id, "a5")
	all := []string{"a1", "a2", "a3", "a4", "a5", "b1", "c1"}
	for _, n := range []*node{a, b, c} {
		n.waitIDs(t, id, all...)
	}
}

// TestJoinRefused: a wrong key, an address without a peer, this hub's own
// address and an unreachable peer are refused, and leave no DB behind.
func TestJoinRefused(t *testing.T) {
	a, b := newNode(t, Config{}), newNode(t, Config{})
	id, key := hosted(t, a)
	other, err := threads.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	gone := newNode(t, Config{})
	goneAddr := gone.addr(t)
	gone.host.Close()
	noPeer, _ := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/1")
	for _, tc := range []struct {
		name string
		addr ma.Multiaddr
		key  threads.Key
		kind errors.Kind
		msg  string
	}{
		{"wrong key", a.addr(t), other, errors.FailedPrecondition, "refused to sync"},
		{"no peer", noPeer, key, errors.Invalid, "names no peer"},
		{"own address", b.addr(t), key, errors.Invalid, "this hub's own"},
		{"unreachable", goneAddr, key, errors.Unavailable, "cannot reach peer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.repl.Join(context.Background(), b.user, tc.addr, id, tc.key, "")
			errorstest.WantKind(t, err, tc.kind, tc.msg)
			if _, err := b.threads().GetDBInfo(context.Background(), id); !errors.Is(errors.NotExist, err) {
				t.Fatalf("after a refused join, GetDBInfo = %v; want NotExist", err)
			}
		})
	}
}

// TestGapRepaired: a record pushed without the one before it is not
// applied; the receiver pulls the log from the pusher and ends with both.
func TestGapRepaired(t *testing.T) {
	a, b := newNode(t, Config{}), newNode(t, Config{})
	id, key := hosted(t, a)
	if _, err := b.repl.Join(context.Background(), b.user, a.addr(t), id, key, ""); err != nil {
		t.Fatal(err)
	}
	// B writes twice without announcing it.
	b.dbs.OnRecords(nil)
	create(t, b, id, "b1", "b2")
	if err := b.dbs.WaitRecords(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, byLog, err := b.repl.heads(id)
	if err != nil {
		t.Fatal(err)
	}
	var second []threads.Block
	for _, l := range byLog {
		if l.PrivKey != nil && l.Counter == 2 {
			second, err = b.repl.recordBlocks(id, key, l.Head)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if second == nil {
		t.Fatal("B's own log with two records not found")
	}
	var ans answer
	err = b.repl.exchange(context.Background(), a.host.ID(), request{Op: opPush}, id, key, func(w *bufio.Writer) error {
		if err := writeFrame(w, encodeRecord(second)); err != nil {
			return err
		}
		return writeFrame(w, nil)
	}, func(r *bufio.Reader) error { return readJSON(r, &ans, maxRequest) })
	if err != nil {
		t.Fatal(err)
	}
	if !ans.Gap || ans.Ingested != 0 {
		t.Fatalf("pushing a record without its predecessor: answer %+v; want a gap and nothing ingested", ans)
	}
	a.waitIDs(t, id, "b1", "b2")
}

// TestForgedRecordRefused: a peer that holds the key but pushes a record
// of another thread (it does not open with this thread's key) changes
// nothing, is refused from then on, and the hub keeps serving others.
func TestForgedRecordRefused(t *testing.T) {
	a, b, c := newNode(t, Config{}), newNode(t, Config{}), newNode(t, Config{})
	id, key := hosted(t, a)
	create(t, a, id, "a1")
	if _, err := b.repl.Join(context.Background(), b.user, a.addr(t), id, key, ""); err != nil {
		t.Fatal(err)
	}
	otherID, otherKey := hosted(t, b)
	create(t, b, otherID, "x1")
	if err := b.dbs.WaitRecords(context.Background()); err != nil {
		t.Fatal(err)
	}
	heads, _, err := b.repl.heads(otherID)
	if err != nil || len(heads) == 0 {
		t.Fatalf("heads of B's other DB: %v, %v", heads, err)
	}
	forged, err := b.repl.recordBlocks(otherID, otherKey, heads[0].head)
	if err != nil {
		t.Fatal(err)
	}
	var ans answer
	err = b.repl.exchange(context.Background(), a.host.ID(), request{Op: opPush}, id, key, func(w *bufio.Writer) error {
		if err := writeFrame(w, encodeRecord(forged)); err != nil {
			return err
		}
		return writeFrame(w, nil)
	}, func(r *bufio.Reader) error { return readJSON(r, &ans, maxRequest) })
	if err == nil && (ans.Err == "" || ans.Ingested != 0) {
		t.Fatalf("a forged record was answered %+v; want a refusal", ans)
	}
	if got := a.ids(t, id); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("after a forged push, A holds %v; want a1 only", got)
	}
	// B is refused now; C is served.
	err = b.repl.exchange(context.Background(), a.host.ID(), request{Op: opHeads}, id, key, nil, func(r *bufio.Reader) error { return readJSON(r, &ans, maxRequest) })
	if err == nil {
		t.Fatal("a banned peer's request was answered")
	}
	if _, err := c.repl.Join(context.Background(), c.user, a.addr(t), id, key, ""); err != nil {
		t.Fatalf("after refusing a forger, A does not serve another peer: %v", err)
	}
	if got := c.ids(t, id); !slices.Equal(got, []string{"a1"}) {
		t.Fatalf("C holds %v; want a1", got)
	}
}
