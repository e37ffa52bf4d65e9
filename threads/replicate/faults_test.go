package replicate

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// TestFaults is a property test of replication under faults: three hubs
// share a DB and write to it at once, to shared instances and to their
// own, while a schedule drawn from a seed cuts and restores the
// connections between pairs of them and restarts them. Once every
// connection is restored and every hub is up, all must hold the same
// records and the same instances, and every write a hub acknowledged must
// be on every hub.
//
// HUB_FAULT_SCHEDULES sets how many schedules run (seeds 1 to n; 3 by
// default, a longer run takes 100), HUB_FAULT_SEED runs one seed alone.
// A failing schedule's subtest is named after its seed.
func TestFaults(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	if v := os.Getenv("HUB_FAULT_SCHEDULES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("HUB_FAULT_SCHEDULES=%q: want a number of schedules", v)
		}
		seeds = seeds[:0]
		for i := range n {
			seeds = append(seeds, uint64(i+1))
		}
	}
	if v := os.Getenv("HUB_FAULT_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("HUB_FAULT_SEED=%q: want a seed", v)
		}
		seeds = []uint64{seed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runSchedule(t, seed)
			if t.Failed() {
				t.Logf("replay with HUB_FAULT_SEED=%d go test -run 'TestFaults' ./threads/replicate", seed)
			}
		})
	}
}

// gate refuses connections to and from the peers it blocks: a partition.
type gate struct {
	mu      sync.Mutex
	blocked map[peer.ID]bool // guarded by mu
}

func (g *gate) allow(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.blocked[p]
}

func (g *gate) set(p peer.ID, blocked bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked[p] = blocked
}

func (g *gate) InterceptPeerDial(p peer.ID) bool                 { return g.allow(p) }
func (g *gate) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.allow(p) }
func (g *gate) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *gate) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allow(p)
}
func (g *gate) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// faultHub is one hub of a schedule across its restarts: its store
// directory, identity, address and gate stay; n is the running hub.
type faultHub struct {
	name string
	dir  string
	key  crypto.PrivKey
	addr string
	user hub.Principal
	gate *gate

	mu sync.RWMutex // held to read n; held to write it by a restart
	n  *node

	// acked are the instances whose creation this hub acknowledged, and
	// writes the count of its acknowledged writes; written by its writer
	// only, read once the writer ended.
	acked  []string
	writes int64
}

func (f *faultHub) start(t *testing.T) {
	t.Helper()
	f.n = openNode(t, Config{Interval: 200 * time.Millisecond, Timeout: 20 * time.Second}, f.dir, f.user,
		libp2p.Identity(f.key), libp2p.ListenAddrStrings(f.addr), libp2p.ConnectionGater(f.gate))
}

func (f *faultHub) id() peer.ID { return f.n.host.ID() }

// restart stops the hub and starts it again on its store.
func (f *faultHub) restart(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n.close()
	f.start(t)
}

// write makes one write on the hub, as the schedule's writer: a Save of
// a shared instance (a Create when it is not there yet) or a Create of an
// instance of its own.
func (f *faultHub) write(t *testing.T, id threads.ID, rng *rand.Rand, i int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ctx := context.Background()
	th := f.n.threads()
	if rng.IntN(2) == 0 {
		own := fmt.Sprintf("%s-%d", f.name, i)
		if _, err := th.Create(ctx, id, "notes", []json.RawMessage{json.RawMessage(`{"_id":"` + own + `"}`)}); err != nil {
			t.Errorf("%s: create %s: %v", f.name, own, err)
			return
		}
		f.acked = append(f.acked, own)
		f.writes++
		return
	}
	doc := json.RawMessage(fmt.Sprintf(`{"_id":"s%d","by":"%s-%d"}`, rng.IntN(4), f.name, i))
	err := th.Save(ctx, id, "notes", []json.RawMessage{doc})
	if errors.Is(errors.NotExist, err) {
		_, err = th.Create(ctx, id, "notes", []json.RawMessage{doc})
	}
	switch {
	case errors.Is(errors.Exist, err): // another write made it first
	case err != nil:
		t.Errorf("%s: save: %v", f.name, err)
	default:
		f.writes++
	}
}

func runSchedule(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	hubs := make([]*faultHub, 3)
	for i := range hubs {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		f := &faultHub{name: string(rune('a' + i)), dir: t.TempDir(), key: key, user: user(t),
			gate: &gate{blocked: map[peer.ID]bool{}}, addr: "/ip4/127.0.0.1/tcp/0"}
		f.start(t)
		// Restarts listen where the hub did, so that its peers find it.
		f.addr = f.n.host.Addrs()[0].String()
		hubs[i] = f
	}
	a, b, c := hubs[0], hubs[1], hubs[2]
	id, key := hosted(t, a.n)
	// b joins from a, c from b: a and c meet only when c's requests
	// reach a through a sync (or never, and records go through b).
	if _, err := b.n.repl.Join(context.Background(), b.user, a.n.addr(t), id, key, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.n.repl.Join(context.Background(), c.user, b.n.addr(t), id, key, ""); err != nil {
		t.Fatal(err)
	}

	// Writers: each hub writes at once with the others, throughout the
	// schedule or until it made maxWrites: a count, not a time, so that a
	// slow machine, where a restart takes seconds, does not pile up more
	// records than the catch-up after healing can move in its deadline.
	const maxWrites = 1500
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for i, f := range hubs {
		wrng := rand.New(rand.NewPCG(seed, uint64(i)))
		writers.Go(func() {
			for n := 0; n < maxWrites; n++ {
				select {
				case <-stop:
					return
				default:
				}
				f.write(t, id, wrng, n)
			}
		})
	}

	// The schedule: partitions, heals and restarts.
	cut := map[[2]int]bool{}
	for step := range 12 {
		x, y := rng.IntN(3), rng.IntN(2)
		if y >= x {
			y++
		}
		pair := [2]int{min(x, y), max(x, y)}
		switch k := rng.IntN(10); {
		case k < 4:
			t.Logf("step %d: cut %s-%s", step, hubs[pair[0]].name, hubs[pair[1]].name)
			partition(hubs[pair[0]], hubs[pair[1]], true)
			cut[pair] = true
		case k < 7:
			t.Logf("step %d: restore %s-%s", step, hubs[pair[0]].name, hubs[pair[1]].name)
			partition(hubs[pair[0]], hubs[pair[1]], false)
			delete(cut, pair)
		default:
			t.Logf("step %d: restart %s", step, hubs[x].name)
			hubs[x].restart(t)
			// The gate outlives the host; connections cut stay cut.
		}
		time.Sleep(time.Duration(50+rng.IntN(200)) * time.Millisecond) // let writes and syncs run
	}
	close(stop)
	writers.Wait()
	if t.Failed() {
		return
	}
	for pair := range cut {
		partition(hubs[pair[0]], hubs[pair[1]], false)
	}
	t.Logf("healed; acknowledged writes: a %d, b %d, c %d", a.writes, b.writes, c.writes)
	converged(t, id, hubs)
}

// partition cuts (or restores) the connections between x and y.
func partition(x, y *faultHub, cut bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	y.mu.RLock()
	defer y.mu.RUnlock()
	x.gate.set(y.id(), cut)
	y.gate.set(x.id(), cut)
	if cut {
		x.n.host.Network().ClosePeer(y.id())
		y.n.host.Network().ClosePeer(x.id())
	}
}

// converged polls until every hub holds the same heads and instances,
// then checks that every acknowledged write is there.
func converged(t *testing.T, id threads.ID, hubs []*faultHub) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var digests [][]byte
		var states []string
		for _, f := range hubs {
			heads, _, err := f.n.repl.heads(id)
			if err != nil {
				t.Fatal(err)
			}
			digests = append(digests, digest(heads))
			found, err := f.n.threads().Find(context.Background(), id, "notes", nil)
			if err != nil {
				t.Fatal(err)
			}
			docs := make([]string, len(found))
			for i, d := range found {
				docs[i] = string(d)
			}
			slices.Sort(docs)
			states = append(states, fmt.Sprint(docs))
		}
		same := true
		for i := 1; i < len(hubs); i++ {
			same = same && slices.Equal(digests[i], digests[0]) && states[i] == states[0]
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			for i, f := range hubs {
				t.Logf("%s: digest %x, %d bytes of instances", f.name, digests[i], len(states[i]))
			}
			t.Fatal("the hubs did not converge within two minutes of healing")
		}
		time.Sleep(50 * time.Millisecond) // polling, not waiting for state
	}
	// Every acknowledged write is on every hub: its own instances, and as
	// many records in its log as it acknowledged writes.
	for _, on := range hubs {
		have := map[string]bool{}
		for _, i := range on.n.ids(t, id) {
			have[i] = true
		}
		logs, err := on.n.logs.Logs(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, from := range hubs {
			for _, i := range from.acked {
				if !have[i] {
					t.Fatalf("%s lacks %s, which %s acknowledged", on.name, i, from.name)
				}
			}
			if from.writes == 0 {
				continue
			}
			var records int64
			for _, l := range logs {
				if l.PubKey.Equals(from.logKey(t, id)) {
					records = l.Counter
				}
			}
			if records < from.writes {
				t.Fatalf("%s holds %d records of %s's log; %s acknowledged %d writes", on.name, records, from.name, from.name, from.writes)
			}
		}
	}
}

// logKey is the public key of the log the hub's writes go to in DB id.
func (f *faultHub) logKey(t *testing.T, id threads.ID) crypto.PubKey {
	t.Helper()
	logs, err := f.n.logs.Logs(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		if l.PrivKey != nil {
			return l.PubKey
		}
	}
	t.Fatalf("%s writes no log of DB %s", f.name, id)
	return nil
}
