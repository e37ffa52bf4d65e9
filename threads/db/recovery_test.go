package db

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/internal/store"
	"github.com/selfhub/hub/threads"
)

// The environment that turns this test binary into the writer child of
// TestRecordsAfterKill.
const (
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

// writerChild creates one instance per transaction in the DB, for ever,
// printing each _id once its Create is acknowledged; the parent kills it.
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
	d, err := NewManager(Config{}, st).DB(ctx, p, id)
	if err != nil {
		return err
	}
	var from int
	fmt.Sscan(os.Getenv(childFrom), &from)
	out := bufio.NewWriter(os.Stdout)
	for i := from; ; i++ {
		txn, err := d.WriteTxn(ctx, p, "people")
		if err != nil {
			return err
		}
		if _, err := txn.Create(ctx, [][]byte{fmt.Appendf(nil, `{"_id":"p%d","name":"n%d","age":%d}`, i, i, i%100)}); err != nil {
			return err
		}
		if err := txn.Commit(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, "p%d\n", i)
		out.Flush()
	}
}

// TestRecordsAfterKill kills a writing child process (SIGKILL) at random
// points and checks, after each kill, that the journal kept every write
// that had no record yet and that reopening the DB forms exactly the
// missing records: every instance of the collection, acknowledged ones
// included, is in exactly one record of the writer's log, the log's chain
// verifies, and the journal ends empty.
func TestRecordsAfterKill(t *testing.T) {
	dir := t.TempDir()
	p := user(t)
	st, err := store.Open(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	d := newDB(t, NewManager(Config{}, st), p)
	id := d.id
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	acked := map[string]bool{}
	pendingSeen := 0
	// Kills land at random moments; keep going until one of them has left
	// journal entries behind (most do), so that recovery is exercised.
	for round := 0; round < 4 || pendingSeen == 0; round++ {
		if round == 20 {
			t.Fatalf("no kill in %d rounds left a journal entry behind; recovery was never exercised", round)
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
		lines := bufio.NewScanner(stdout)
		for n := rand.IntN(200); n >= 0 && lines.Scan(); n-- {
			acked[lines.Text()] = true
		}
		cmd.Process.Kill()
		for lines.Scan() {
			acked[lines.Text()] = true // acknowledged before the kill landed
		}
		cmd.Wait()

		pending := checkAfterKill(t, dir, p, id, acked)
		pendingSeen += pending
		t.Logf("round %d: %d writes acknowledged so far, %d left in the journal by the kill", round, len(acked), pending)
	}
}

// checkAfterKill reopens the store, counts the journal entries the kill
// left, opens the DB (which forms their records), and checks instances
// against records.
func checkAfterKill(t *testing.T, dir string, p hub.Principal, id threads.ID, acked map[string]bool) int {
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
	pending := journal()

	ctx := context.Background()
	m := NewManager(Config{}, st)
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
	return pending
}
