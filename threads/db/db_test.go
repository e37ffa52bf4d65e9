package db

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db/query"
	"github.com/selfhub/hub/threads/logstore"
)

// newManager opens a Manager over a fresh store.
func newManager(t testing.TB, cfg Config) *Manager {
	t.Helper()
	st, err := store.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return NewManager(cfg, st, logstore.NewStore(st))
}

// user returns a principal acting as a fresh user identity.
func user(t testing.TB) hub.Principal {
	t.Helper()
	_, pub := identitytest.New(t)
	return hub.Principal{Kind: hub.UserPrincipal, Account: "bdev", Identity: pub}
}

const personSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "_id": {"type": "string"},
    "name": {"type": "string"},
    "age": {"type": "integer", "minimum": 0},
    "address": {"type": "object", "properties": {"city": {"type": "string"}}}
  },
  "required": ["name"]
}`

func people() CollectionConfig {
	return CollectionConfig{Name: "people", Schema: []byte(personSchema), Indexes: []Index{{Path: "age"}, {Path: "address.city"}, {Path: "email", Unique: true}}}
}

// newDB makes a DB with the people collection.
func newDB(t testing.TB, m *Manager, p hub.Principal) *DB {
	t.Helper()
	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.NewDB(ctx, p, id, "test", nil, []CollectionConfig{people()}); err != nil {
		t.Fatal(err)
	}
	d, err := m.DB(ctx, p, id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// write runs fn in a committed write transaction.
func write(t testing.TB, d *DB, p hub.Principal, col string, fn func(*Txn) error) error {
	t.Helper()
	ctx := context.Background()
	txn, err := d.WriteTxn(ctx, p, col)
	if err != nil {
		return err
	}
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	return txn.Commit(ctx)
}

func create(t testing.TB, d *DB, p hub.Principal, docs ...string) []string {
	t.Helper()
	var ids []string
	err := write(t, d, p, "people", func(txn *Txn) (err error) {
		raw := make([][]byte, len(docs))
		for i, s := range docs {
			raw[i] = []byte(s)
		}
		ids, err = txn.Create(context.Background(), raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func find(t testing.TB, d *DB, p hub.Principal, q string) []map[string]any {
	t.Helper()
	ctx := context.Background()
	txn, err := d.ReadTxn(ctx, p, "people")
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard()
	found, err := txn.Find(ctx, []byte(q))
	if err != nil {
		t.Fatalf("find %s: %v", q, err)
	}
	out := make([]map[string]any, len(found))
	for i, f := range found {
		json.Unmarshal(f, &out[i])
	}
	return out
}

func ids(docs []map[string]any) string {
	var s []string
	for _, d := range docs {
		s = append(s, fmt.Sprint(d["_id"]))
	}
	return strings.Join(s, ",")
}

func TestInstances(t *testing.T) {
	m := newManager(t, Config{MaxInstanceSize: 2048})
	p := user(t)
	d := newDB(t, m, p)
	ctx := context.Background()
	got := create(t, d, p, `{"name":"ann","age":30}`, `{"_id":"bob","name":"bob","age":40}`)
	if len(got) != 2 || got[0] == "" || got[1] != "bob" {
		t.Fatalf("created ids %v", got)
	}
	cases := []struct {
		name string
		fn   func(*Txn) error
		kind errors.Kind
		hint string
	}{
		{"duplicate _id", func(x *Txn) error { _, err := x.Create(ctx, [][]byte{[]byte(`{"_id":"bob","name":"b"}`)}); return err }, errors.Exist, "already exists"},
		{"schema violation", func(x *Txn) error { _, err := x.Create(ctx, [][]byte{[]byte(`{"age":-1}`)}); return err }, errors.Invalid, "schema"},
		{"not JSON", func(x *Txn) error { _, err := x.Create(ctx, [][]byte{[]byte(`{"name":`)}); return err }, errors.Invalid, "not valid JSON"},
		{"not an object", func(x *Txn) error { _, err := x.Create(ctx, [][]byte{[]byte(`[1]`)}); return err }, errors.Invalid, "object"},
		{"_id not a string", func(x *Txn) error { _, err := x.Create(ctx, [][]byte{[]byte(`{"_id":7,"name":"x"}`)}); return err }, errors.Invalid, "_id must be a string"},
		{"oversized", func(x *Txn) error {
			_, err := x.Create(ctx, [][]byte{[]byte(`{"name":"` + strings.Repeat("x", 3000) + `"}`)})
			return err
		}, errors.Exhausted, "limit"},
		{"save of a missing instance", func(x *Txn) error { return x.Save(ctx, [][]byte{[]byte(`{"_id":"nobody","name":"n"}`)}) }, errors.NotExist, "not found"},
		{"save without _id", func(x *Txn) error { return x.Save(ctx, [][]byte{[]byte(`{"name":"n"}`)}) }, errors.Invalid, "no _id"},
		{"delete of a missing instance", func(x *Txn) error { return x.Delete(ctx, []string{"nobody"}) }, errors.NotExist, "not found"},
		{"bad query", func(x *Txn) error {
			_, err := x.Find(ctx, []byte(`{"ands":[{"fieldPath":"age","operation":9}]}`))
			return err
		}, errors.Invalid, "operation"},
		{"unknown index", func(x *Txn) error { _, err := x.Find(ctx, []byte(`{"index":"nope"}`)); return err }, errors.Invalid, "nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := write(t, d, p, "people", c.fn)
			if !errors.Is(c.kind, err) || !strings.Contains(err.Error(), c.hint) {
				t.Fatalf("got %v; want kind %v saying %q", err, c.kind, c.hint)
			}
		})
	}
	// None of the refusals changed anything.
	if all := find(t, d, p, `{}`); len(all) != 2 {
		t.Fatalf("after refusals: %v", all)
	}
	if _, err := d.WriteTxn(ctx, p, "nope"); !errors.Is(errors.NotExist, err) {
		t.Fatalf("unknown collection: %v", err)
	}
	if err := write(t, d, p, "people", func(x *Txn) error {
		if err := x.Save(ctx, [][]byte{[]byte(`{"_id":"bob","name":"bob","age":41}`)}); err != nil {
			return err
		}
		return x.Delete(ctx, []string{got[0]})
	}); err != nil {
		t.Fatal(err)
	}
	if all := find(t, d, p, `{}`); ids(all) != "bob" || all[0]["age"] != 41.0 {
		t.Fatalf("after save and delete: %v", all)
	}
}

func TestQueriesUseIndexesAndAgreeWithScans(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	cities := []string{"Paris", "Lagos", "Lima", "Oslo"}
	var docs []string
	for i := range 400 {
		docs = append(docs, fmt.Sprintf(`{"_id":"p%03d","name":"n%d","age":%d,"address":{"city":%q}}`, i, i, i%90, cities[i%4]))
	}
	create(t, d, p, docs...)
	queries := []string{
		`{"ands":[{"fieldPath":"age","operation":0,"value":{"float":42}}]}`,
		`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":30}},{"fieldPath":"age","operation":3,"value":{"float":33}}],"sort":{"fieldPath":"age","desc":true},"limit":7,"skip":2}`,
		`{"ands":[{"fieldPath":"address.city","operation":0,"value":{"string":"Lima"}}],"ors":[{"ands":[{"fieldPath":"age","operation":5,"value":{"float":1}}]}]}`,
		`{"ands":[{"fieldPath":"age","operation":2,"value":{"float":85}}],"sort":{"fieldPath":"name"}}`,
		`{"ands":[{"fieldPath":"name","operation":1,"value":{"string":"n1"}}],"limit":5,"seek":"p010"}`,
		// Read off the index in order, stopping early (ties on age are
		// ordered by _id, both ways).
		`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":10}}],"sort":{"fieldPath":"age"},"limit":7,"skip":3}`,
		`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":10}},{"fieldPath":"name","operation":1,"value":{"string":"n13"}}],"sort":{"fieldPath":"age","desc":true},"limit":9,"skip":2}`,
		`{"ands":[{"fieldPath":"age","operation":3,"value":{"float":50}},{"fieldPath":"address.city","operation":0,"value":{"string":"Lima"}}],"sort":{"fieldPath":"age","desc":true},"limit":5}`,
	}
	for _, q := range queries {
		indexed := find(t, d, p, q)
		// The same query answered by a full scan must give the same
		// instances in the same order.
		full := fullScan(t, d, p, q)
		if ids(indexed) != ids(full) {
			t.Fatalf("query %s:\nindexed %s\nscan    %s", q, ids(indexed), ids(full))
		}
		if len(indexed) == 0 {
			t.Fatalf("query %s found nothing; the test needs matches", q)
		}
	}
}

// fullScan answers q without indexes, by matching every instance.
func fullScan(t testing.TB, d *DB, p hub.Principal, q string) []map[string]any {
	t.Helper()
	saved := d.cols["people"].config.Indexes
	d.cols["people"].config.Indexes = nil
	defer func() { d.cols["people"].config.Indexes = saved }()
	return find(t, d, p, q)
}

func TestIndexBackfillAndUnique(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	ctx := context.Background()
	create(t, d, p, `{"_id":"a","name":"a","email":"a@x","nick":"same"}`, `{"_id":"b","name":"b","email":"b@x","nick":"same"}`)
	err := write(t, d, p, "people", func(x *Txn) error {
		_, err := x.Create(ctx, [][]byte{[]byte(`{"name":"c","email":"a@x"}`)})
		return err
	})
	if !errors.Is(errors.Exist, err) || !strings.Contains(err.Error(), "unique") {
		t.Fatalf("unique index not enforced: %v", err)
	}
	// A unique index the current instances break is refused.
	cfg := people()
	cfg.Indexes = append(cfg.Indexes, Index{Path: "nick", Unique: true})
	if err := d.UpdateCollection(ctx, p, cfg); !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("unique index over duplicates: %v", err)
	}
	// A plain one is backfilled: a forced index query finds both.
	cfg.Indexes[len(cfg.Indexes)-1].Unique = false
	if err := d.UpdateCollection(ctx, p, cfg); err != nil {
		t.Fatal(err)
	}
	got := find(t, d, p, `{"index":"nick","ands":[{"fieldPath":"nick","operation":0,"value":{"string":"same"}}]}`)
	if ids(got) != "a,b" {
		t.Fatalf("backfilled index found %s", ids(got))
	}
	n := 0
	m.st.Scan(idxPrefix(d.pfx, "people", "nick"), func(_, _ []byte) error { n++; return nil })
	if n != 2 {
		t.Fatalf("%d entries in the backfilled index; want 2", n)
	}
}

func TestTransactionIsolation(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	ctx := context.Background()
	create(t, d, p, `{"_id":"a","name":"a","age":1}`)
	read, err := d.ReadTxn(ctx, p, "people")
	if err != nil {
		t.Fatal(err)
	}
	defer read.Discard()
	w, err := d.WriteTxn(ctx, p, "people")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create(ctx, [][]byte{[]byte(`{"_id":"b","name":"b"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(ctx, [][]byte{[]byte(`{"_id":"a","name":"a","age":2}`)}); err != nil {
		t.Fatal(err)
	}
	// The writer sees its own writes; nobody else does before commit.
	if got, _ := w.Find(ctx, []byte(`{"sort":{"fieldPath":"_id"}}`)); len(got) != 2 {
		t.Fatalf("writer sees %d instances", len(got))
	}
	if ok, _ := d.hasNow(t, p, "people", "b"); ok {
		t.Fatal("an uncommitted create is visible")
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.hasNow(t, p, "people", "b"); !ok {
		t.Fatal("a committed create is not visible")
	}
	// The read transaction still sees its snapshot.
	if ok, _ := read.Has(ctx, []string{"b"}); ok {
		t.Fatal("a read transaction saw a later commit")
	}
	raw, _ := read.FindByID(ctx, "a")
	if !strings.Contains(string(raw), `"age":1`) {
		t.Fatalf("snapshot read %s", raw)
	}
	// A discarded transaction writes nothing.
	w2, _ := d.WriteTxn(ctx, p, "people")
	w2.Create(ctx, [][]byte{[]byte(`{"_id":"c","name":"c"}`)})
	w2.Discard()
	if ok, _ := d.hasNow(t, p, "people", "c"); ok {
		t.Fatal("an instance of a discarded transaction exists")
	}
}

// TestAbandonedTransaction: a write transaction abandoned by its caller
// times out, which frees the DB for the next writer and leaves nothing
// written. The short time limit is in a manager of its own, so that the
// transactions of TestTransactionIsolation, which must commit, never meet
// it on a busy machine.
func TestAbandonedTransaction(t *testing.T) {
	m := newManager(t, Config{TxnTimeout: 300 * time.Millisecond})
	p := user(t)
	d := newDB(t, m, p)
	ctx := context.Background()
	abandoned, err := d.WriteTxn(ctx, p, "people")
	if err != nil {
		t.Fatal(err)
	}
	// Whether the create comes before the time limit or not, it is never
	// committed.
	abandoned.Create(ctx, [][]byte{[]byte(`{"_id":"d","name":"d"}`)})
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	next, err := d.WriteTxn(waitCtx, p, "people")
	if err != nil {
		t.Fatalf("an abandoned transaction kept the DB: %v", err)
	}
	next.Discard()
	if err := abandoned.Commit(ctx); !errors.Is(errors.FailedPrecondition, err) {
		t.Fatalf("commit after the time limit: %v", err)
	}
	if ok, _ := d.hasNow(t, p, "people", "d"); ok {
		t.Fatal("an instance of an abandoned transaction exists")
	}
}

// hasNow reports whether an instance exists, in a fresh read transaction.
func (d *DB) hasNow(t testing.TB, p hub.Principal, col, id string) (bool, error) {
	t.Helper()
	txn, err := d.ReadTxn(context.Background(), p, col)
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard()
	return txn.Has(context.Background(), []string{id})
}

func TestOwnershipAndLimits(t *testing.T) {
	m := newManager(t, Config{MaxDBsPerOwner: 2})
	alice, bob := user(t), user(t)
	ctx := context.Background()
	d := newDB(t, m, alice)
	if _, err := m.DB(ctx, bob, d.id); !errors.Is(errors.NotExist, err) {
		t.Fatalf("bob reached alice's DB: %v", err)
	}
	if err := m.DeleteDB(ctx, bob, d.id); !errors.Is(errors.NotExist, err) {
		t.Fatalf("bob deleted alice's DB: %v", err)
	}
	id2, _ := threads.NewID(threads.Raw)
	if _, err := m.NewDB(ctx, alice, id2, "test", nil, nil); !errors.Is(errors.Exist, err) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := m.NewDB(ctx, alice, id2, "second", nil, nil); err != nil {
		t.Fatal(err)
	}
	id3, _ := threads.NewID(threads.Raw)
	if _, err := m.NewDB(ctx, alice, id3, "third", nil, nil); !errors.Is(errors.Exhausted, err) {
		t.Fatalf("over the limit: %v", err)
	}
	if _, err := m.NewDB(ctx, bob, id3, "test", nil, nil); err != nil {
		t.Fatalf("bob may use the name alice uses: %v", err)
	}
	list, _ := m.ListDBs(ctx, alice)
	if len(list) != 2 {
		t.Fatalf("alice lists %d DBs", len(list))
	}
	if err := m.DeleteDB(ctx, alice, d.id); err != nil {
		t.Fatal(err)
	}
	n := 0
	m.st.Scan(dbPrefix(d.id), func(_, _ []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d records of a deleted DB remain", n)
	}
}

// TestOrderedWalk checks which queries are read off their index in order
// with an early stop, the fast path the agreement test above verifies.
func TestOrderedWalk(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	txn, err := d.ReadTxn(context.Background(), p, "people")
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard()
	for q, want := range map[string]bool{
		`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":10}}],"sort":{"fieldPath":"age"},"limit":7}`:             true,
		`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":10}}],"sort":{"fieldPath":"age","desc":true},"limit":7}`: true,
		`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":10}}],"sort":{"fieldPath":"age"}}`:                       false, // no limit
		`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":10}}],"sort":{"fieldPath":"name"},"limit":7}`:            false, // other order
		`{"ands":[{"fieldPath":"age","operation":4,"value":{"float":10}}],"sort":{"fieldPath":"age"},"limit":7,"seek":"x"}`:  false,
		`{"sort":{"fieldPath":"age"},"limit":7}`: false, // full scan: instances without an age sort first
	} {
		parsed, err := query.Parse([]byte(q))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := parsed.Plan(txn.col.indexPaths())
		if err != nil {
			t.Fatal(err)
		}
		if got := !plan.Full && txn.ordered(parsed, plan); got != want {
			t.Errorf("%s: ordered = %v, want %v", q, got, want)
		}
	}
}

// TestFullScanInIDOrder: a full scan whose query is in _id order (no sort,
// or _id up or down) with a limit stops once it has its results, and gives
// what matching every instance gives. A corrupt record past the stop point
// shows that the scan stopped: reaching it is an Internal error.
func TestFullScanInIDOrder(t *testing.T) {
	m := newManager(t, Config{})
	p := user(t)
	d := newDB(t, m, p)
	var docs []string
	for i := range 200 {
		docs = append(docs, fmt.Sprintf(`{"_id":"p%03d","name":"n%d","age":%d}`, i, i, i%50))
	}
	create(t, d, p, docs...)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		sort := []string{``, `,"sort":{"fieldPath":"_id"}`, `,"sort":{"fieldPath":"_id","desc":true}`}[rng.IntN(3)]
		where := fmt.Sprintf(`"ands":[{"fieldPath":"age","operation":%d,"value":{"float":%d}}]`, []int{1, 2, 3, 4, 5}[rng.IntN(5)], rng.IntN(50))
		limit, skip := 1+rng.IntN(20), rng.IntN(10)
		all := fullScan(t, d, p, fmt.Sprintf(`{%s%s}`, where, sort))
		got := fullScan(t, d, p, fmt.Sprintf(`{%s%s,"limit":%d,"skip":%d}`, where, sort, limit, skip))
		want := all[min(skip, len(all)):min(skip+limit, len(all))]
		if ids(got) != ids(want) {
			t.Fatalf("where %s sort %q limit %d skip %d:\n got %s\nwant %s", where, sort, limit, skip, ids(got), ids(want))
		}
	}

	// p999 sorts after every instance; its record is not JSON.
	b := m.st.NewBatch()
	b.PutRaw(docKey(d.pfx, "people", "p999"), []byte("not json"))
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := fullScan(t, d, p, `{"limit":5,"skip":5}`); ids(got) != ids(fullScanIDs(5, 10)) {
		t.Fatalf("limited scan: %s", ids(got))
	}
	txn, err := d.ReadTxn(context.Background(), p, "people")
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Discard()
	saved := d.cols["people"].config.Indexes
	d.cols["people"].config.Indexes = nil
	defer func() { d.cols["people"].config.Indexes = saved }()
	if _, err := txn.Find(context.Background(), []byte(`{"sort":{"fieldPath":"_id","desc":true},"limit":1}`)); !errors.Is(errors.Internal, err) {
		t.Fatalf("a scan that reads the corrupt record first: %v; want Internal", err)
	}
}

// fullScanIDs are the instances p<from>..p<to-1> as find returns them.
func fullScanIDs(from, to int) []map[string]any {
	var out []map[string]any
	for i := from; i < to; i++ {
		out = append(out, map[string]any{"_id": fmt.Sprintf("p%03d", i)})
	}
	return out
}
