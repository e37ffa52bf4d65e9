package threadsclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/selfhub/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/identity/identitytest"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db/query"
	"github.com/selfhub/hub/threads/db/threadstest"
)

// dbTest is a hubd with a developer (alice, by session) and, through one of
// her user group keys, an app user, each with a threads client.
type dbTest struct {
	h     *testhub.Hub
	tc    *threadsclient.Client
	alice context.Context // alice's session
	user  context.Context // an app user: alice's user group key and the user's token
}

func newDBTest(t *testing.T) *dbTest {
	t.Helper()
	tc, hc, alice := setup(t)
	k, err := hc.CreateKey(alice, hub.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := identitytest.New(t)
	return &dbTest{tc: tc, alice: alice, user: testhub.SignIn(t, tc, k, priv)}
}

// person is the instance type of the tests' "people" collection.
type person struct {
	ID   string  `json:"_id,omitempty"`
	Name string  `json:"name"`
	Age  float64 `json:"age"`
	City string  `json:"city,omitempty"`
}

// peopleSchema requires a string name and a non-negative age.
const peopleSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "_id": {"type": "string"},
    "name": {"type": "string"},
    "age": {"type": "number", "minimum": 0},
    "city": {"type": "string"}
  },
  "required": ["name", "age"]
}`

var people = threadsclient.CollectionConfig{
	Name:    "people",
	Schema:  json.RawMessage(peopleSchema),
	Indexes: []threadsclient.Index{{Path: "name", Unique: true}, {Path: "age"}},
}

func raw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePeople(t *testing.T, rs []json.RawMessage) []person {
	t.Helper()
	out := make([]person, len(rs))
	for i, r := range rs {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			t.Fatalf("instance %s: %v", r, err)
		}
	}
	return out
}

func names(ps []person) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// newDB makes a DB with the people collection and returns its ID.
func (d *dbTest) newDB(t *testing.T, ctx context.Context, name string) threadsclient.ID {
	t.Helper()
	id, err := d.tc.NewDB(ctx, "", threadsclient.DBOptions{Name: name, Collections: []threadsclient.CollectionConfig{people}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// wantTxnErr fails unless err is an error reported in a transaction reply
// (kind Other: the wire carries only the message) containing hint.
func wantTxnErr(t *testing.T, err error, hint string) {
	t.Helper()
	if err == nil || errors.KindOf(err) != errors.Other {
		t.Fatalf("got %v (kind %v), want a transaction error", err, errors.KindOf(err))
	}
	if !strings.Contains(errors.Message(err), hint) {
		t.Fatalf("message %q does not say %q", errors.Message(err), hint)
	}
}

func TestDBs(t *testing.T) {
	d := newDBTest(t)
	ctx := d.alice

	id, err := threads.NewID(threads.Raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.tc.NewDB(ctx, id, threadsclient.DBOptions{Name: "first"})
	if err != nil || got != id {
		t.Fatalf("NewDB = %s, %v; want %s", got, err, id)
	}
	second := d.newDB(t, ctx, "")

	info, err := d.tc.GetDBInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != id || info.Name != "first" || len(info.Key.Bytes()) != 64 || !strings.HasPrefix(info.Key.String(), "b") {
		t.Errorf("GetDBInfo = %+v", info)
	}
	if len(info.Addrs) == 0 {
		t.Errorf("GetDBInfo gave no addresses")
	}
	for _, a := range info.Addrs {
		if !strings.HasPrefix(a, "/ip4/127.0.0.1/tcp/") || !strings.Contains(a, "/p2p/") || !strings.HasSuffix(a, "/thread/"+id.String()) {
			t.Errorf("address %q, want /ip4/127.0.0.1/tcp/…/p2p/…/thread/%s", a, id)
		}
	}
	if k, err := threads.KeyFromString(info.Key.String()); err != nil || !slices.Equal(k.Bytes(), info.Key.Bytes()) {
		t.Errorf("KeyFromString(Key.String()) = %x, %v", k.Bytes(), err)
	}

	// ListDBs lists the caller's own DBs, each as GetDBInfo describes it.
	list, err := d.tc.ListDBs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(list, func(a, b threadsclient.DBInfo) int { return strings.Compare(a.Name, b.Name) })
	if len(list) != 2 || list[0].ID != second || list[1].ID != id || !reflect.DeepEqual(list[1], info) {
		t.Errorf("ListDBs = %+v, want %s (unnamed) and %+v", list, second, info)
	}

	// The same ID or name again is refused.
	_, err = d.tc.NewDB(ctx, id, threadsclient.DBOptions{})
	errorstest.WantKind(t, err, errors.Exist, "already exists")
	_, err = d.tc.NewDB(ctx, "", threadsclient.DBOptions{Name: "first"})
	errorstest.WantKind(t, err, errors.Exist, `"first"`)
	_, err = d.tc.NewDB(ctx, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{{Name: "no spaces"}}})
	errorstest.WantKind(t, err, errors.Invalid, "collection name")

	// A DB may be made with a key the caller chose: the full thread key.
	keyBytes := make([]byte, 64)
	for i := range keyBytes {
		keyBytes[i] = byte(i)
	}
	key, err := threads.KeyFromBytes(keyBytes)
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := d.tc.NewDB(ctx, "", threadsclient.DBOptions{Name: "keyed", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := d.tc.GetDBInfo(ctx, keyed); err != nil || !slices.Equal(info.Key.Bytes(), keyBytes) {
		t.Errorf("GetDBInfo of a DB made with a key: key %x, %v; want %x", info.Key.Bytes(), err, keyBytes)
	}
	if err := d.tc.DeleteDB(ctx, keyed); err != nil {
		t.Fatal(err)
	}
	_, err = d.tc.NewDB(ctx, "", threadsclient.DBOptions{Key: key.ServiceOnly()})
	errorstest.WantKind(t, err, errors.Invalid, "full thread key")

	// Another identity sees none of alice's DBs, and they see none of its.
	userDB := d.newDB(t, d.user, "first") // names are per owner
	for _, c := range []struct {
		name      string
		ctx       context.Context
		own, not  threadsclient.ID
		ownerName string
	}{
		{"user", d.user, userDB, id, "alice"},
		{"alice", ctx, id, userDB, "user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := d.tc.GetDBInfo(c.ctx, c.not)
			errorstest.WantKind(t, err, errors.NotExist, "not found")
			err = d.tc.DeleteDB(c.ctx, c.not)
			errorstest.WantKind(t, err, errors.NotExist, "not found")
			_, err = d.tc.Create(c.ctx, c.not, "people", raw(t, person{Name: "mallory", Age: 1}))
			errorstest.WantKind(t, err, errors.NotExist, "not found")
			err = d.tc.Listen(c.ctx, c.not, nil, 0, func(threadsclient.ListenEvent) error { return nil })
			errorstest.WantKind(t, err, errors.NotExist, "not found")
			list, err := d.tc.ListDBs(c.ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, db := range list {
				if db.ID == c.not {
					t.Errorf("ListDBs lists %s's DB %s", c.ownerName, c.not)
				}
			}
		})
	}

	// Deleting a DB removes it from everywhere.
	if err := d.tc.DeleteDB(ctx, second); err != nil {
		t.Fatal(err)
	}
	_, err = d.tc.GetDBInfo(ctx, second)
	errorstest.WantKind(t, err, errors.NotExist, "not found")
	err = d.tc.DeleteDB(ctx, second)
	errorstest.WantKind(t, err, errors.NotExist, "not found")
	if list, err := d.tc.ListDBs(ctx); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("ListDBs after DeleteDB = %+v, %v; want only %s", list, err, id)
	}

	// An ID that was never made, and a malformed one.
	unknown, _ := threads.NewID(threads.Raw)
	_, err = d.tc.GetDBInfo(ctx, unknown)
	errorstest.WantKind(t, err, errors.NotExist, "not found")
	_, err = d.tc.GetDBInfo(ctx, threadsclient.ID("\x01\x55short"))
	errorstest.WantKind(t, err, errors.Invalid, "thread ID")

	// Without credentials nothing is reachable.
	_, err = d.tc.ListDBs(context.Background())
	errorstest.WantKind(t, err, errors.Unauthenticated, "")
}

// TestNewDBFromAddr joins a DB by the address and key GetDBInfo gives: with
// a log key the hub refuses (it makes its writers' log keys), and from the
// hub that holds the DB it refuses too (the DB is there), each with its
// reason and making nothing. What is not a DB address, or no key, is
// refused before anything is sent. Joins that work are test/'s
// TestReplicationBetweenHubs.
func TestNewDBFromAddr(t *testing.T) {
	tc, _, ctx := setup(t)
	id, err := tc.NewDB(ctx, "", threadsclient.DBOptions{Name: "hosted"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := tc.GetDBInfo(ctx, id)
	if err != nil || len(info.Addrs) == 0 {
		t.Fatalf("GetDBInfo = %+v, %v; want an address", info, err)
	}
	logKey, _ := identitytest.New(t)
	joined, err := tc.NewDBFromAddr(ctx, info.Addrs[0], info.Key, threadsclient.JoinOptions{
		Name:        "joined",
		Collections: []threadsclient.CollectionConfig{people},
		Block:       true,
		ThreadKey:   info.Key,
		LogKey:      logKey,
	})
	if code := rpcerr.Code(err); code != codes.InvalidArgument || joined != "" {
		t.Fatalf("NewDBFromAddr = %q, %v (code %v); want InvalidArgument", joined, err, code)
	}
	errorstest.WantKind(t, err, errors.Invalid, "leave logKey empty")
	_, err = tc.NewDBFromAddr(ctx, info.Addrs[0], info.Key, threadsclient.JoinOptions{Name: "joined", Collections: []threadsclient.CollectionConfig{people}})
	errorstest.WantKind(t, err, errors.Invalid, "this hub's own")
	if list, err := tc.ListDBs(ctx); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("ListDBs after NewDBFromAddr = %+v, %v; want only %s", list, err, id)
	}

	for _, c := range []struct {
		name, addr string
		key        threadsclient.Key
		hint       string
	}{
		{"no thread component", strings.TrimSuffix(info.Addrs[0], "/thread/"+id.String()), info.Key, "/thread/<id>"},
		{"malformed thread ID", strings.TrimSuffix(info.Addrs[0], id.String()) + "nope", info.Key, "thread component"},
		{"no key", info.Addrs[0], threadsclient.Key{}, "thread key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := tc.NewDBFromAddr(ctx, c.addr, c.key, threadsclient.JoinOptions{})
			errorstest.WantKind(t, err, errors.Invalid, c.hint)
		})
	}
}

func TestCollections(t *testing.T) {
	d := newDBTest(t)
	ctx := d.user
	db := d.newDB(t, ctx, "")

	info, err := d.tc.GetCollectionInfo(ctx, db, "people")
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "people" || !reflect.DeepEqual(info.Indexes, people.Indexes) || !jsonEqual(t, info.Schema, people.Schema) {
		t.Errorf("GetCollectionInfo = %+v, want %+v", info, people)
	}

	pets := threadsclient.CollectionConfig{
		Name:   "pets",
		Schema: json.RawMessage(`{"type": "object", "properties": {"kind": {"type": "string"}}}`),
		// The validator sees the new instance in the event's patch.
		WriteValidator: `var p = event.patch && event.patch.json_patch; return !(p && p.kind === "dragon")`,
		ReadFilter:     `if (instance.secret) { delete instance.secret }; return instance`,
	}
	if err := d.tc.NewCollection(ctx, db, pets); err != nil {
		t.Fatal(err)
	}
	err = d.tc.NewCollection(ctx, db, pets)
	errorstest.WantKind(t, err, errors.Exist, "already exists")
	err = d.tc.NewCollection(ctx, db, threadsclient.CollectionConfig{Name: "bad", Schema: json.RawMessage(`{"type": 12}`)})
	errorstest.WantKind(t, err, errors.Invalid, "schema")
	err = d.tc.NewCollection(ctx, db, threadsclient.CollectionConfig{Name: "bad", WriteValidator: "return (("})
	errorstest.WantKind(t, err, errors.Invalid, "")

	list, err := d.tc.ListCollections(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "people" || list[1].Name != "pets" || list[1].WriteValidator != pets.WriteValidator || list[1].ReadFilter != pets.ReadFilter {
		t.Errorf("ListCollections = %+v", list)
	}

	// The validator and the filter run.
	_, err = d.tc.Create(ctx, db, "pets", raw(t, map[string]any{"kind": "dragon"}))
	errorstest.WantKind(t, err, errors.Permission, "validator")
	ids, err := d.tc.Create(ctx, db, "pets", raw(t, map[string]any{"kind": "cat", "secret": "s3cret"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.tc.FindByID(ctx, db, "pets", ids[0]); err != nil || strings.Contains(string(got), "s3cret") {
		t.Errorf("FindByID through the read filter = %s, %v", got, err)
	}

	// UpdateCollection adds an index, built over the instances there.
	if _, err := d.tc.Create(ctx, db, "people", raw(t, person{Name: "ann", Age: 30, City: "Oslo"}), raw(t, person{Name: "bob", Age: 40, City: "Rome"})); err != nil {
		t.Fatal(err)
	}
	updated := people
	updated.Indexes = append(slices.Clone(people.Indexes), threadsclient.Index{Path: "city"})
	if err := d.tc.UpdateCollection(ctx, db, updated); err != nil {
		t.Fatal(err)
	}
	ix, err := d.tc.GetCollectionIndexes(ctx, db, "people")
	if err != nil || !reflect.DeepEqual(ix, updated.Indexes) {
		t.Errorf("GetCollectionIndexes = %+v, %v; want %+v", ix, err, updated.Indexes)
	}
	found, err := d.tc.Find(ctx, db, "people", &query.Query{Ands: []query.Criterion{{FieldPath: "city", Op: query.Eq, Value: query.StringValue("Rome")}}, Index: "city"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(decodePeople(t, found)); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("find by the new index = %v, want [bob]", got)
	}
	err = d.tc.UpdateCollection(ctx, db, threadsclient.CollectionConfig{Name: "nothing"})
	errorstest.WantKind(t, err, errors.NotExist, "not found")

	if err := d.tc.DeleteCollection(ctx, db, "pets"); err != nil {
		t.Fatal(err)
	}
	_, err = d.tc.GetCollectionInfo(ctx, db, "pets")
	errorstest.WantKind(t, err, errors.NotExist, `collection "pets" not found`)
	_, err = d.tc.GetCollectionIndexes(ctx, db, "pets")
	errorstest.WantKind(t, err, errors.NotExist, `collection "pets" not found`)
	err = d.tc.DeleteCollection(ctx, db, "pets")
	errorstest.WantKind(t, err, errors.NotExist, `collection "pets" not found`)
	if list, err := d.tc.ListCollections(ctx, db); err != nil || len(list) != 1 {
		t.Errorf("ListCollections after the delete = %+v, %v", list, err)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestInstances(t *testing.T) {
	d := newDBTest(t)
	ctx := d.user
	db := d.newDB(t, ctx, "")

	ids, err := d.tc.Create(ctx, db, "people",
		raw(t, person{ID: "ann", Name: "ann", Age: 30, City: "Oslo"}),
		raw(t, person{Name: "bob", Age: 40, City: "Rome"}),
		raw(t, person{Name: "cat", Age: 25, City: "Oslo"}),
		raw(t, person{Name: "dan", Age: 40, City: "Lima"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 4 || ids[0] != "ann" || ids[1] == "" || ids[1] == ids[2] {
		t.Fatalf("Create returned %q; want ann and three fresh _ids", ids)
	}
	bob, err := d.tc.FindByID(ctx, db, "people", ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if p := decodePeople(t, []json.RawMessage{bob})[0]; p != (person{ID: ids[1], Name: "bob", Age: 40, City: "Rome"}) {
		t.Errorf("FindByID = %+v", p)
	}

	// Refusals change nothing.
	refusals := []struct {
		name string
		call func() error
		kind errors.Kind
		hint string
	}{
		{"duplicate _id", func() error {
			_, err := d.tc.Create(ctx, db, "people", raw(t, person{Name: "eve", Age: 1}), raw(t, person{ID: "ann", Name: "ann2", Age: 1}))
			return err
		}, errors.Exist, `"ann" already exists`},
		{"schema violation", func() error {
			_, err := d.tc.Create(ctx, db, "people", raw(t, map[string]any{"name": "eve", "age": -1}))
			return err
		}, errors.Invalid, "does not match the collection schema"},
		{"missing required field", func() error {
			_, err := d.tc.Create(ctx, db, "people", raw(t, map[string]any{"name": "eve"}))
			return err
		}, errors.Invalid, "does not match the collection schema"},
		{"unique index", func() error {
			_, err := d.tc.Create(ctx, db, "people", raw(t, person{Name: "ann", Age: 2}))
			return err
		}, errors.Exist, "unique index"},
		{"not JSON", func() error {
			_, err := d.tc.Create(ctx, db, "people", json.RawMessage(`{"name": `))
			return err
		}, errors.Invalid, "not valid JSON"},
		{"unknown collection", func() error {
			_, err := d.tc.Create(ctx, db, "nothing", raw(t, person{Name: "eve", Age: 1}))
			return err
		}, errors.NotExist, `collection "nothing" not found`},
		{"save of an unknown _id", func() error {
			return d.tc.Save(ctx, db, "people", raw(t, person{ID: "nobody", Name: "x", Age: 1}))
		}, errors.NotExist, `"nobody" not found`},
		{"save breaking the schema", func() error {
			return d.tc.Save(ctx, db, "people", raw(t, map[string]any{"_id": "ann", "name": 7, "age": 1}))
		}, errors.Invalid, "does not match the collection schema"},
		{"delete of an unknown _id", func() error {
			return d.tc.Delete(ctx, db, "people", "ann", "nobody")
		}, errors.NotExist, `"nobody" not found`},
		{"find by an unknown _id", func() error {
			_, err := d.tc.FindByID(ctx, db, "people", "nobody")
			return err
		}, errors.NotExist, `"nobody" not found`},
		{"bad query operation", func() error {
			_, err := d.tc.FindJSON(ctx, db, "people", []byte(`{"ands": [{"fieldPath": "age", "operation": 9, "value": {"float": 1}}]}`))
			return err
		}, errors.Invalid, "unknown operation 9"},
		{"query value of no type", func() error {
			_, err := d.tc.FindJSON(ctx, db, "people", []byte(`{"ands": [{"fieldPath": "age", "operation": 0, "value": {}}]}`))
			return err
		}, errors.Invalid, "value"},
		{"verify breaking the schema", func() error {
			return d.tc.Verify(ctx, db, "people", raw(t, map[string]any{"_id": "ann", "name": "ann", "age": "old"}))
		}, errors.Invalid, "does not match the collection schema"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			errorstest.WantKind(t, r.call(), r.kind, r.hint)
		})
	}
	if all, err := d.tc.Find(ctx, db, "people", nil); err != nil || len(all) != 4 {
		t.Fatalf("after the refusals Find = %d instances, %v; want the 4 created", len(all), err)
	}

	// Save, Verify, Has, Delete.
	if err := d.tc.Verify(ctx, db, "people", raw(t, person{ID: "ann", Name: "ann", Age: 31})); err != nil {
		t.Errorf("Verify of a valid change: %v", err)
	}
	if got, _ := d.tc.FindByID(ctx, db, "people", "ann"); !strings.Contains(string(got), `"age":30`) {
		t.Errorf("Verify wrote: ann is %s", got)
	}
	if err := d.tc.Save(ctx, db, "people", raw(t, person{ID: "ann", Name: "ann", Age: 31, City: "Oslo"})); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.tc.FindByID(ctx, db, "people", "ann"); !strings.Contains(string(got), `"age":31`) {
		t.Errorf("after Save ann is %s", got)
	}
	for _, c := range []struct {
		ids  []string
		want bool
	}{{[]string{"ann"}, true}, {ids, true}, {[]string{"ann", "nobody"}, false}, {[]string{"nobody"}, false}} {
		if got, err := d.tc.Has(ctx, db, "people", c.ids...); err != nil || got != c.want {
			t.Errorf("Has(%q) = %v, %v; want %v", c.ids, got, err, c.want)
		}
	}
	if err := d.tc.Delete(ctx, db, "people", ids[3]); err != nil {
		t.Fatal(err)
	}
	if got, err := d.tc.Has(ctx, db, "people", ids[3]); err != nil || got {
		t.Errorf("Has(deleted) = %v, %v", got, err)
	}

	// Queries: ann 31 Oslo, bob 40 Rome, cat 25 Oslo.
	where := func(path string, op query.Op, v query.Value) query.Criterion {
		return query.Criterion{FieldPath: path, Op: op, Value: v}
	}
	queries := []struct {
		name string
		q    *query.Query
		want []string
	}{
		{"all", nil, []string{"ann", "bob", "cat"}},
		{"eq", &query.Query{Ands: []query.Criterion{where("city", query.Eq, query.StringValue("Oslo"))}, Sort: query.Sort{FieldPath: "name"}}, []string{"ann", "cat"}},
		{"and", &query.Query{Ands: []query.Criterion{where("city", query.Eq, query.StringValue("Oslo")), where("age", query.Gt, query.FloatValue(30))}}, []string{"ann"}},
		{"or", &query.Query{
			Ands: []query.Criterion{where("name", query.Eq, query.StringValue("cat"))},
			Ors:  []*query.Query{{Ands: []query.Criterion{where("city", query.Eq, query.StringValue("Rome"))}}},
			Sort: query.Sort{FieldPath: "name"},
		}, []string{"bob", "cat"}},
		{"range, sorted descending", &query.Query{Ands: []query.Criterion{where("age", query.Ge, query.FloatValue(25)), where("age", query.Lt, query.FloatValue(40))}, Sort: query.Sort{FieldPath: "age", Desc: true}}, []string{"ann", "cat"}},
		{"ne", &query.Query{Ands: []query.Criterion{where("city", query.Ne, query.StringValue("Oslo"))}}, []string{"bob"}},
		{"sort, skip, limit", &query.Query{Sort: query.Sort{FieldPath: "age"}, Skip: 1, Limit: 1}, []string{"ann"}},
		{"le", &query.Query{Ands: []query.Criterion{where("age", query.Le, query.FloatValue(31))}, Sort: query.Sort{FieldPath: "age"}}, []string{"cat", "ann"}},
	}
	for _, q := range queries {
		t.Run("find "+q.name, func(t *testing.T) {
			found, err := d.tc.Find(ctx, db, "people", q.q)
			if err != nil {
				t.Fatal(err)
			}
			got := names(decodePeople(t, found))
			if q.q == nil || q.q.Sort == (query.Sort{}) {
				slices.Sort(got)
			}
			if !slices.Equal(got, q.want) {
				t.Errorf("found %v, want %v", got, q.want)
			}
		})
	}
	// The same query as JSON, as the JavaScript client writes it.
	found, err := d.tc.FindJSON(ctx, db, "people", []byte(`{"ands":[{"fieldPath":"city","operation":0,"value":{"string":"Oslo"}}],"sort":{"fieldPath":"age","desc":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := names(decodePeople(t, found)); !slices.Equal(got, []string{"cat", "ann"}) {
		t.Errorf("FindJSON = %v, want [cat ann]", got)
	}
	// A query that cannot be valid is refused before it is sent.
	_, err = d.tc.Find(ctx, db, "people", &query.Query{Limit: -1})
	errorstest.WantKind(t, err, errors.Invalid, "limit")
}

func TestTransactions(t *testing.T) {
	d := newDBTest(t)
	ctx := d.user
	db := d.newDB(t, ctx, "")
	if _, err := d.tc.Create(ctx, db, "people", raw(t, person{ID: "ann", Name: "ann", Age: 30})); err != nil {
		t.Fatal(err)
	}

	w, err := d.tc.WriteTransaction(ctx, db, "people")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := w.Create(raw(t, person{ID: "bob", Name: "bob", Age: 40}))
	if err != nil || !slices.Equal(ids, []string{"bob"}) {
		t.Fatalf("txn Create = %q, %v", ids, err)
	}
	if err := w.Save(raw(t, person{ID: "ann", Name: "ann", Age: 31})); err != nil {
		t.Fatal(err)
	}
	// The transaction reads its own writes.
	if ok, err := w.Has("ann", "bob"); err != nil || !ok {
		t.Errorf("txn Has(ann, bob) = %v, %v", ok, err)
	}
	if got, err := w.FindByID("ann"); err != nil || !strings.Contains(string(got), `"age":31`) {
		t.Errorf("txn FindByID(ann) = %s, %v", got, err)
	}
	found, err := w.Find(&query.Query{Sort: query.Sort{FieldPath: "age"}})
	if err != nil || !slices.Equal(names(decodePeople(t, found)), []string{"ann", "bob"}) {
		t.Errorf("txn Find = %s, %v", found, err)
	}
	if err := w.Verify(raw(t, person{ID: "bob", Name: "bob", Age: 41})); err != nil {
		t.Errorf("txn Verify: %v", err)
	}
	// A refused call is reported in its reply and leaves the transaction
	// open.
	_, err = w.Create(raw(t, person{ID: "ann", Name: "other", Age: 1}))
	wantTxnErr(t, err, `"ann" already exists`)
	_, err = w.Create(raw(t, map[string]any{"name": "eve", "age": -3}))
	wantTxnErr(t, err, "does not match the collection schema")
	err = w.Verify(raw(t, map[string]any{"_id": "bob", "name": "bob"}))
	wantTxnErr(t, err, "does not match the collection schema")
	_, err = w.FindByID("nobody")
	wantTxnErr(t, err, `"nobody" not found`)

	// Nobody else sees the writes before End: not a read transaction
	// started now, nor a one-shot read.
	r, err := d.tc.ReadTransaction(ctx, db, "people")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Has("bob"); err != nil || ok {
		t.Errorf("read txn Has(bob) before End = %v, %v", ok, err)
	}
	if got, err := r.FindByID("ann"); err != nil || !strings.Contains(string(got), `"age":30`) {
		t.Errorf("read txn FindByID(ann) before End = %s, %v", got, err)
	}
	if got, err := d.tc.Find(ctx, db, "people", nil); err != nil || len(got) != 1 {
		t.Errorf("Find before End = %s, %v; want ann only", got, err)
	}

	if err := w.End(); err != nil {
		t.Fatalf("End: %v", err)
	}
	// The read transaction keeps its snapshot; new reads see the commit.
	if ok, err := r.Has("bob"); err != nil || ok {
		t.Errorf("read txn Has(bob) after the commit = %v, %v; its snapshot predates it", ok, err)
	}
	found, err = r.Find(nil)
	if err != nil || len(found) != 1 {
		t.Errorf("read txn Find after the commit = %s, %v", found, err)
	}
	if err := r.End(); err != nil {
		t.Errorf("read txn End: %v", err)
	}
	if got, err := d.tc.FindByID(ctx, db, "people", "ann"); err != nil || !strings.Contains(string(got), `"age":31`) {
		t.Errorf("after End ann = %s, %v", got, err)
	}
	if ok, err := d.tc.Has(ctx, db, "people", "bob"); err != nil || !ok {
		t.Errorf("after End Has(bob) = %v, %v", ok, err)
	}

	// Calls after End are refused by the client.
	_, err = w.Has("ann")
	errorstest.WantKind(t, err, errors.FailedPrecondition, "ended")
	errorstest.WantKind(t, w.End(), errors.FailedPrecondition, "ended")
	_, err = r.Has("ann")
	errorstest.WantKind(t, err, errors.FailedPrecondition, "ended")

	t.Run("discard", func(t *testing.T) {
		w, err := d.tc.WriteTransaction(ctx, db, "people")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Create(raw(t, person{ID: "cat", Name: "cat", Age: 3})); err != nil {
			t.Fatal(err)
		}
		if err := w.Delete("ann"); err != nil {
			t.Fatal(err)
		}
		if err := w.Discard(); err != nil {
			t.Fatal(err)
		}
		if ok, err := d.tc.Has(ctx, db, "people", "ann"); err != nil || !ok {
			t.Errorf("Has(ann) after a discarded delete = %v, %v", ok, err)
		}
		if ok, err := d.tc.Has(ctx, db, "people", "cat"); err != nil || ok {
			t.Errorf("Has(cat) after a discarded create = %v, %v", ok, err)
		}
		// The DB is free again: a one-shot write does not wait.
		if _, err := d.tc.Create(ctx, db, "people", raw(t, person{ID: "cat", Name: "cat", Age: 3})); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("create and delete in one transaction", func(t *testing.T) {
		w, err := d.tc.WriteTransaction(ctx, db, "people")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Create(raw(t, person{ID: "tmp", Name: "tmp", Age: 1})); err != nil {
			t.Fatal(err)
		}
		if err := w.Delete("tmp"); err != nil {
			t.Fatal(err)
		}
		if ok, err := w.Has("tmp"); err != nil || ok {
			t.Errorf("txn Has(tmp) after its delete = %v, %v", ok, err)
		}
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
		if ok, err := d.tc.Has(ctx, db, "people", "tmp"); err != nil || ok {
			t.Errorf("Has(tmp) = %v, %v", ok, err)
		}
	})

	t.Run("refused start", func(t *testing.T) {
		// The start request gets no reply, so the refusal shows as the
		// first call's error.
		r, err := d.tc.ReadTransaction(ctx, db, "nothing")
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Has("ann")
		errorstest.WantKind(t, err, errors.NotExist, `collection "nothing" not found`)
		w, err := d.tc.WriteTransaction(ctx, db, "nothing")
		if err != nil {
			t.Fatal(err)
		}
		errorstest.WantKind(t, w.End(), errors.NotExist, `collection "nothing" not found`)
		unknown, _ := threads.NewID(threads.Raw)
		w, err = d.tc.WriteTransaction(ctx, unknown, "people")
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.Create(raw(t, person{Name: "x", Age: 1}))
		errorstest.WantKind(t, err, errors.NotExist, "not found")
		// alice may not open a transaction on her user's DB.
		r, err = d.tc.ReadTransaction(d.alice, db, "people")
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Find(nil)
		errorstest.WantKind(t, err, errors.NotExist, "not found")
	})

	t.Run("read transaction cannot write", func(t *testing.T) {
		r, err := d.tc.ReadTransaction(ctx, db, "people")
		if err != nil {
			t.Fatal(err)
		}
		defer r.End()
		found, err := r.FindJSON([]byte(`{"ands":[{"fieldPath":"name","operation":0,"value":{"string":"cat"}}]}`))
		if err != nil || len(found) != 1 {
			t.Errorf("read txn FindJSON = %s, %v", found, err)
		}
		_, err = r.FindJSON([]byte(`{"ands": 3}`))
		wantTxnErr(t, err, "ands")
	})
}

// listener runs Listen in the background and hands over its events.
type listener struct {
	events chan threadsclient.ListenEvent
	done   chan error
	cancel context.CancelFunc
}

func listen(t *testing.T, tc *threadsclient.Client, ctx context.Context, db threadsclient.ID, filters []threadsclient.ListenFilter, after uint64) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	l := &listener{events: make(chan threadsclient.ListenEvent, 100), done: make(chan error, 1), cancel: cancel}
	go func() {
		l.done <- tc.Listen(ctx, db, filters, after, func(ev threadsclient.ListenEvent) error {
			l.events <- ev
			return nil
		})
	}()
	t.Cleanup(cancel)
	return l
}

// next returns the listener's next event, failing the test if none comes
// within a minute (an event comes in milliseconds; the bound only stops a
// listener that gets nothing from hanging the test).
func (l *listener) next(t *testing.T) threadsclient.ListenEvent {
	t.Helper()
	select {
	case ev := <-l.events:
		return ev
	case err := <-l.done:
		t.Fatalf("Listen ended: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no event within a minute")
	}
	return threadsclient.ListenEvent{}
}

// take returns the next n events.
func (l *listener) take(t *testing.T, n int) []threadsclient.ListenEvent {
	t.Helper()
	out := make([]threadsclient.ListenEvent, n)
	for i := range out {
		out[i] = l.next(t)
	}
	return out
}

// quiet fails if the listener has an event waiting. It is checked after a
// marker event that came later, so no event can still be on its way.
func (l *listener) quiet(t *testing.T) {
	t.Helper()
	select {
	case ev := <-l.events:
		t.Errorf("unexpected event %+v", ev)
	default:
	}
}

// short describes an event for comparisons.
func short(evs []threadsclient.ListenEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%s %s/%s", ev.Action, ev.Collection, ev.InstanceID)
	}
	return out
}

func TestListen(t *testing.T) {
	d := newDBTest(t)
	ctx := d.user
	db := d.newDB(t, ctx, "")
	if err := d.tc.NewCollection(ctx, db, threadsclient.CollectionConfig{Name: "pets"}); err != nil {
		t.Fatal(err)
	}

	// Once the listener is live, mark the position all later writes come
	// after.
	all := listen(t, d.tc, ctx, db, nil, 0)
	threadstest.WaitLive(t, all.events, func(i int) error {
		_, err := d.tc.Create(ctx, db, "pets", raw(t, map[string]any{"_id": fmt.Sprintf("probe%d", i)}))
		return err
	})
	if _, err := d.tc.Create(ctx, db, "pets", raw(t, map[string]any{"_id": "mark"})); err != nil {
		t.Fatal(err)
	}
	var start uint64
	for start == 0 {
		if ev := all.next(t); ev.InstanceID == "mark" {
			start = ev.Seq
		}
	}

	// The story: two people, a pet, a change, a delete, a marker.
	ids, err := d.tc.Create(ctx, db, "people", raw(t, person{ID: "ann", Name: "ann", Age: 30}), raw(t, person{ID: "bob", Name: "bob", Age: 40}))
	if err != nil || len(ids) != 2 {
		t.Fatal(ids, err)
	}
	if _, err := d.tc.Create(ctx, db, "pets", raw(t, map[string]any{"_id": "rex"})); err != nil {
		t.Fatal(err)
	}
	if err := d.tc.Save(ctx, db, "people", raw(t, person{ID: "ann", Name: "ann", Age: 31})); err != nil {
		t.Fatal(err)
	}
	if err := d.tc.Delete(ctx, db, "people", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.tc.Create(ctx, db, "pets", raw(t, map[string]any{"_id": "end"})); err != nil {
		t.Fatal(err)
	}
	story := []string{"CREATE people/ann", "CREATE people/bob", "CREATE pets/rex", "SAVE people/ann", "DELETE people/bob", "CREATE pets/end"}

	evs := all.take(t, len(story))
	if got := short(evs); !slices.Equal(got, story) {
		t.Fatalf("live events %q, want %q", got, story)
	}
	all.quiet(t)
	for i, ev := range evs {
		if ev.Seq <= start || i > 0 && ev.Seq <= evs[i-1].Seq {
			t.Errorf("event %d has Seq %d after %d (start %d); want increasing Seqs after the start", i, ev.Seq, evs[max(i-1, 0)].Seq, start)
		}
	}
	var ann person
	if err := json.Unmarshal(evs[3].Instance, &ann); err != nil || ann.Age != 31 {
		t.Errorf("SAVE event instance %s: %v", evs[3].Instance, err)
	}
	if evs[4].Instance != nil {
		t.Errorf("DELETE event instance %s, want none", evs[4].Instance)
	}

	// Filters, replayed from the start position.
	filtered := []struct {
		name    string
		filters []threadsclient.ListenFilter
		want    []string
	}{
		{"collection", []threadsclient.ListenFilter{{Collection: "pets"}}, []string{"CREATE pets/rex", "CREATE pets/end"}},
		{"action", []threadsclient.ListenFilter{{Action: threadsclient.ActionDelete}, {Collection: "pets", Action: threadsclient.ActionCreate, InstanceID: "end"}}, []string{"DELETE people/bob", "CREATE pets/end"}},
		{"instance", []threadsclient.ListenFilter{{InstanceID: "ann"}, {InstanceID: "end"}}, []string{"CREATE people/ann", "SAVE people/ann", "CREATE pets/end"}},
		{"collection and action", []threadsclient.ListenFilter{{Collection: "people", Action: threadsclient.ActionSave}, {InstanceID: "end"}}, []string{"SAVE people/ann", "CREATE pets/end"}},
	}
	for _, f := range filtered {
		t.Run(f.name, func(t *testing.T) {
			l := listen(t, d.tc, ctx, db, f.filters, start)
			got := l.take(t, len(f.want))
			if !slices.Equal(short(got), f.want) {
				t.Errorf("events %q, want %q", short(got), f.want)
			}
			l.quiet(t)
		})
	}

	// Resuming after an event delivers exactly the ones after it.
	l := listen(t, d.tc, ctx, db, nil, evs[2].Seq)
	if got := short(l.take(t, 3)); !slices.Equal(got, story[3:]) {
		t.Errorf("resumed events %q, want %q", got, story[3:])
	}
	l.quiet(t)

	// A position the DB has not reached is refused.
	err = d.tc.Listen(ctx, db, nil, evs[5].Seq+100, func(threadsclient.ListenEvent) error { return nil })
	errorstest.WantKind(t, err, errors.Invalid, "ahead")

	// fn's error ends Listen and comes back as it is.
	stop := errors.New("enough")
	err = d.tc.Listen(ctx, db, nil, start, func(threadsclient.ListenEvent) error { return stop })
	if err != stop {
		t.Errorf("Listen returned %v, want fn's error", err)
	}

	// Cancelling the context ends Listen with Canceled.
	all.cancel()
	select {
	case err := <-all.done:
		errorstest.WantKind(t, err, errors.Canceled, "")
	case <-time.After(time.Minute):
		t.Fatal("Listen did not return after its context was cancelled")
	}
}
