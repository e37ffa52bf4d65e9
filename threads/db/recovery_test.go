package db

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/logstore"
)

// The environment that turns this test binary into the writer child of
// TestRecordsAfterKill.
const (
	childWriters  = 3                       // the child's writing goroutines
	childDir      = "HUB_DB_CHILD_DIR"      // the store
	childDB       = "HUB_DB_CHILD_DB"       // the DB's ID, string form
	childIdentity = "HUB_DB_CHILD_IDENTITY" // the writer's identity
	childFrom     = "HUB_DB_CHILD_FROM"     // the first instance number
)

// TestMain runs the writer child when the environment asks for it, and the
// tests otherwise.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childDir); dir != "" {
		if err := writerChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "writer child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// writerChild creates instances in the DB for ever from childWriters
// goroutines, one per transaction, printing "p<n>" once instance p<n>'s
// Create is acknowledged; and it prints "r<cid>" for each new head of the
// writer's log it sees, as a replicator announcing records would. The
// parent kills it.
func writerChild(dir string) error {
	st, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	id, err := threads.Decode(os.Getenv(childDB))
	if err != nil {
		return err
	}
	p := hub.Principal{Kind: hub.UserPrincipal, Account: "bdev", Identity: hub.PubKey(os.Getenv(childIdentity))}
	ctx := context.Background()
	m := NewManager(Config{}, st, logstore.NewStore(st))
	d, err := m.DB(ctx, p, id)
	if err != nil {
		return err
	}
	var from int
	fmt.Sscan(os.Getenv(childFrom), &from)
	var mu sync.Mutex // guards out
	out := bufio.NewWriter(os.Stdout)
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(out, line)
		out.Flush()
	}
	errc := make(chan error, childWriters+2)
	// Writers write for 5 ms, then stop until every record is formed and
	// 3 ms more: the records formed last wait unsynced for the next
	// commit, so that kills also land while a seen head is not on disk,
	// not only while entries wait for their records.
	var pace sync.RWMutex
	go func() {
		for {
			time.Sleep(5 * time.Millisecond)
			pace.Lock()
			if err := d.WaitRecords(ctx); err != nil {
				errc <- err
				return
			}
			time.Sleep(3 * time.Millisecond)
			pace.Unlock()
		}
	}()
	for w := range childWriters {
		go func() {
			for i := from + w; ; i += childWriters {
				pace.RLock()
				txn, err := d.WriteTxn(ctx, p, "people")
				if err != nil {
					errc <- err
					return
				}
				if _, err := txn.Create(ctx, [][]byte{fmt.Appendf(nil, `{"_id":"p%d","name":"n%d","age":%d}`, i, i, i%100)}); err != nil {
					errc <- err
					return
				}
				if err := txn.Commit(ctx); err != nil {
					errc <- err
					return
				}
				say(fmt.Sprintf("p%d", i))
				pace.RUnlock()
			}
		}()
	}
	go func() {
		var seen cid.Cid
		for {
			if err := d.WaitRecords(ctx); err != nil {
				errc <- err
				return
			}
			logs, err := m.threads.Logs(id)
			if err != nil {
				errc <- err
				return
			}
			if len(logs) == 1 && !logs[0].Head.Equals(seen) {
				seen = logs[0].Head
				say("r" + seen.String())
			} else {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	return <-errc
}

// TestRecordsAfterKill kills a child process writing from several
// goroutines (SIGKILL) at random points and checks, after each kill, that
// the journal kept every write that had no record yet and that the hub's
// start (ResumeForming) forms exactly the missing records: every instance
// of the collection, acknowledged ones included, is in exactly one record
// of the writer's log, the log's chain verifies, and the journal ends
// empty. Records the child saw at its log's head before the kill are in
// the log after it, those the kill lost included: records are formed only
// from writes on disk, and formed again identically.
func TestRecordsAfterKill(t *testing.T) {
	dir := t.TempDir()
	p := user(t)
	st, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d := newDB(t, NewManager(Config{}, st, logstore.NewStore(st)), p)
	id := d.id
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	acked, seen := map[string]bool{}, map[cid.Cid]bool{}
	pendingSeen, lostSeen := 0, 0
	// Kills land at random moments; keep going until some have left
	// journal entries behind (most do) and some have lost records that
	// the child saw, so that both recoveries are exercised.
	for round := 0; round < 4 || pendingSeen == 0 || lostSeen == 0; round++ {
		if round == 40 {
			t.Fatalf("in %d rounds, kills left %d journal entries and lost %d seen records; want both > 0", round, pendingSeen, lostSeen)
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), childDir+"="+dir, childDB+"="+id.String(), childIdentity+"="+string(p.Identity), fmt.Sprintf("%s=%d", childFrom, 1000000*round))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read what the child says until it dies; kill it at a random
		// moment once it has started writing.
		started, read := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(read)
			lines := bufio.NewScanner(stdout)
			for first := true; lines.Scan(); first = false {
				line := lines.Text()
				if c, err := cid.Decode(strings.TrimPrefix(line, "r")); line[0] == 'r' && err == nil {
					seen[c] = true
				} else {
					acked[line] = true
				}
				if first {
					close(started)
				}
			}
		}()
		select {
		case <-started:
		case <-read:
			t.Fatal("the writer child ended before writing")
		}
		time.Sleep(time.Duration(rand.IntN(60_000)) * time.Microsecond)
		cmd.Process.Kill()
		<-read // all it wrote before the kill landed
		cmd.Wait()

		pending, lost := checkAfterKill(t, dir, p, id, acked, seen)
		pendingSeen, lostSeen = pendingSeen+pending, lostSeen+lost
		t.Logf("round %d: %d writes acknowledged so far; the kill left %d in the journal and lost %d seen records", round, len(acked), pending, lost)
	}
}

// checkAfterKill reopens the store, counts the journal entries the kill
// left and the seen records it lost, starts a hub's Manager (which forms
// the missing records), and checks instances and seen records against the
// log.
func checkAfterKill(t *testing.T, dir string, p hub.Principal, id threads.ID, acked map[string]bool, seen map[cid.Cid]bool) (pending, lost int) {
	t.Helper()
	st, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	journal := func() int {
		n := 0
		if err := st.Scan(jrnPrefix(dbPrefix(id)), func(_, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	pending = journal()
	for c := range seen {
		if _, err := logstore.NewStore(st).GetBlock(id, c); errors.Is(errors.NotExist, err) {
			lost++
		} else if err != nil {
			t.Fatal(err)
		}
	}

	ctx := context.Background()
	m := NewManager(Config{}, st, logstore.NewStore(st))
	started, err := m.ResumeForming(ctx, func(id threads.ID, err error) { t.Errorf("DB %s: %v", id, err) })
	if err != nil {
		t.Fatal(err)
	}
	if want := min(pending, 1); started != want {
		t.Fatalf("ResumeForming started %d formers with %d entries left; want %d", started, pending, want)
	}
	d, err := m.DB(ctx, p, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitRecords(ctx); err != nil {
		t.Fatal(err)
	}
	if n := journal(); n != 0 {
		t.Fatalf("%d journal entries left after the former ran", n)
	}

	instances := map[string]bool{}
	for _, doc := range find(t, d, p, `{}`) {
		instances[doc["_id"].(string)] = true
	}
	for a := range acked {
		if !instances[a] {
			t.Fatalf("acknowledged instance %s is gone", a)
		}
	}

	// Every record's event, across the logs (the writer's one log).
	inRecords := map[string]int{}
	unseen := maps.Clone(seen)
	logs, err := m.threads.Logs(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		recs, err := m.threads.Records(id, l.ID) // verifies signatures and the chain
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			delete(unseen, rec.Cid)
			ev, err := threads.OpenEvent(d.info.Key, rec, func(c cid.Cid) ([]byte, error) { return m.threads.GetBlock(id, c) })
			if err != nil {
				t.Fatal(err)
			}
			var body eventBody
			if err := json.Unmarshal(ev.Body, &body); err != nil {
				t.Fatal(err)
			}
			for _, o := range body.Ops {
				if o.Kind == opCreate {
					inRecords[o.ID]++
				}
			}
		}
	}
	for inst := range instances {
		if inRecords[inst] != 1 {
			t.Fatalf("instance %s is in %d records; want exactly 1", inst, inRecords[inst])
		}
	}
	for inst := range inRecords {
		if !instances[inst] {
			t.Fatalf("a record creates %s, which the collection does not hold", inst)
		}
	}
	for c := range unseen {
		t.Fatalf("record %s, seen at the log's head before the kill, is not in the log after it", c)
	}
	return pending, lost
}
