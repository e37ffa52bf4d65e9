package test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/selfhub/hub/api/pb/threadspb"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// childWithDB is a child hubd on a fresh repo, with alice signed up and a
// DB of hers: what the kill tests write to.
type childWithDB struct {
	bin, repo string
	p         *testhub.Process
	ctx       context.Context // alice's
	id        threads.ID
}

// startChildWithDB builds and starts hubd as a child process, signs alice
// up and makes her a DB with the collection col.
func startChildWithDB(t *testing.T, col *threadspb.CollectionConfig) childWithDB {
	t.Helper()
	c := childWithDB{bin: testhub.Build(t, "./cmd/hubd"), repo: t.TempDir()}
	c.p = testhub.StartProcess(t, c.bin, nil, hubdArgs(c.repo)...)
	c.ctx, _ = signup(t, hubclient.New(testhub.Dial(t, c.p.Addrs.API)), "alice")
	c.id, _ = threads.NewID(threads.Raw)
	api := threadspb.NewAPIClient(testhub.Dial(t, c.p.Addrs.API))
	if _, err := api.NewDB(c.ctx, &threadspb.NewDBRequest{DbID: c.id.Bytes(), Name: "durable", Collections: []*threadspb.CollectionConfig{col}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// firstAck tells a kill test that a round's write loop has had a write
// acknowledged: the random moment of the kill is counted from there, so
// that a busy machine, slow to serve the first call of a round, still has
// the kill land among writes rather than before any.
type firstAck struct {
	once sync.Once
	c    chan struct{}
}

func newFirstAck() *firstAck { return &firstAck{c: make(chan struct{})} }

// ack records an acknowledged write.
func (f *firstAck) ack() { f.once.Do(func() { close(f.c) }) }

// wait returns once a write was acknowledged, and fails the test if the
// write loop ended (done closed) or two minutes passed first.
func (f *firstAck) wait(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-f.c:
	case <-done:
		t.Fatal("the write loop ended before a write was acknowledged")
	case <-time.After(2 * time.Minute):
		t.Fatal("no write was acknowledged within 2 minutes")
	}
}

// TestWritesSurviveKill runs a write loop against a child hubd and kills
// it (SIGKILL) at random moments, several times. After each restart every
// acknowledged write is there, every write is whole or absent (each call
// creates a group of three instances, and groups are complete or missing),
// and the index agrees with the instances.
func TestWritesSurviveKill(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := startChildWithDB(t, &threadspb.CollectionConfig{Name: "items", Indexes: []*threadspb.Index{{Path: "group"}}})
	bin, repo, p, ctx, dbID := c.bin, c.repo, c.p, c.ctx, c.id

	acked := map[int]bool{} // groups whose Create was acknowledged
	next := 0
	for round := range 4 {
		api := threadspb.NewAPIClient(testhub.Dial(t, p.Addrs.API))
		var mu sync.Mutex
		stop := make(chan struct{})
		done := make(chan struct{})
		first := newFirstAck()
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				g := next
				next++
				mu.Unlock()
				var inst [][]byte
				for k := range 3 {
					inst = append(inst, []byte(fmt.Sprintf(`{"_id":"g%d-%d","group":%d,"pad":"%0200d"}`, g, k, g, g)))
				}
				if _, err := api.Create(ctx, &threadspb.CreateRequest{DbID: dbID.Bytes(), CollectionName: "items", Instances: inst}); err != nil {
					return // the daemon is gone
				}
				mu.Lock()
				acked[g] = true
				mu.Unlock()
				first.ack()
			}
		}()
		first.wait(t, done)
		time.Sleep(time.Duration(150+rng.IntN(400)) * time.Millisecond)
		p.Kill()
		close(stop)
		<-done
		mu.Lock()
		nAcked := len(acked)
		mu.Unlock()
		if nAcked == 0 {
			t.Fatalf("round %d: no write was acknowledged before the kill", round)
		}

		p = testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
		api = threadspb.NewAPIClient(testhub.Dial(t, p.Addrs.API))
		res, err := api.Find(ctx, &threadspb.FindRequest{DbID: dbID.Bytes(), CollectionName: "items", QueryJSON: []byte(`{}`)})
		if err != nil {
			t.Fatalf("round %d: find after restart: %v", round, err)
		}
		groups := map[int]int{}
		for _, raw := range res.Instances {
			var doc struct{ Group int }
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("round %d: a stored instance is not whole JSON: %q", round, raw)
			}
			groups[doc.Group]++
		}
		for g, n := range groups {
			if n != 3 {
				t.Fatalf("round %d: group %d has %d of its 3 instances: a write was half applied", round, g, n)
			}
		}
		for g := range acked {
			if groups[g] != 3 {
				t.Fatalf("round %d: acknowledged group %d is missing after the kill", round, g)
			}
		}
		// The index holds exactly the instances: an indexed equality
		// query finds each group's three, and nothing of missing ones.
		for _, g := range []int{0, next - 1, rng.IntN(next)} {
			q := fmt.Sprintf(`{"ands":[{"fieldPath":"group","operation":0,"value":{"float":%d}}]}`, g)
			res, err := api.Find(ctx, &threadspb.FindRequest{DbID: dbID.Bytes(), CollectionName: "items", QueryJSON: []byte(q)})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Instances) != groups[g] {
				t.Fatalf("round %d: index finds %d instances of group %d; the collection has %d", round, len(res.Instances), g, groups[g])
			}
		}
		t.Logf("round %d: %d groups acknowledged, %d stored", round, nAcked, len(groups))
	}
}

// TestRecordsFormedAtStart kills a child hubd (SIGKILL) under a write loop
// until a kill has left acknowledged writes without their records, then
// starts it again and stops it cleanly without a single call: the records
// must have been formed by the start itself (Manager.ResumeForming), and a
// later call to the DB finds nothing left to form.
func TestRecordsFormedAtStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := startChildWithDB(t, &threadspb.CollectionConfig{Name: "items"})
	bin, repo, p, ctx, id := c.bin, c.repo, c.p, c.ctx, c.id
	next := 0
	for round := 0; ; round++ {
		if round == 20 {
			t.Fatal("no kill in 20 rounds left a write without its record; the start was never exercised")
		}
		api := threadspb.NewAPIClient(testhub.Dial(t, p.Addrs.API))
		done := make(chan struct{})
		first := newFirstAck()
		go func() {
			defer close(done)
			for ; ; next++ {
				if _, err := api.Create(ctx, &threadspb.CreateRequest{DbID: id.Bytes(), CollectionName: "items",
					Instances: [][]byte{fmt.Appendf(nil, `{"_id":"i%d"}`, next)}}); err != nil {
					return // the daemon is gone
				}
				first.ack()
			}
		}()
		first.wait(t, done)
		time.Sleep(time.Duration(100+rng.IntN(300)) * time.Millisecond)
		p.Kill()
		<-done
		killed := len(storedRecords(t, repo, id))

		// Started and stopped with no call in between.
		p = testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		started := len(storedRecords(t, repo, id))
		t.Logf("round %d: %d records after the kill, %d after a start and stop", round, killed, started)
		if started < killed {
			t.Fatalf("round %d: records went from %d to %d", round, killed, started)
		}

		// A call opens the DB: anything the start left would be formed now.
		p = testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
		api = threadspb.NewAPIClient(testhub.Dial(t, p.Addrs.API))
		res, err := api.Find(ctx, &threadspb.FindRequest{DbID: id.Bytes(), CollectionName: "items", QueryJSON: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		if after := len(storedRecords(t, repo, id)); after != started {
			t.Fatalf("round %d: opening the DB formed %d more records: the start had left them", round, after-started)
		}
		// One record for the DB's collections, one per instance.
		if started != len(res.Instances)+1 {
			t.Fatalf("round %d: %d records for %d instances and the collections", round, started, len(res.Instances))
		}
		if started > killed {
			return // the start formed what the kill left
		}
		p = testhub.StartProcess(t, bin, nil, hubdArgs(repo)...)
	}
}
