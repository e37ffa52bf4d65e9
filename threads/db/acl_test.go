package db

import (
	"context"
	stderrors "errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/threads"
)

// TestACLOrderFree: the list read from a set of operations is the same
// whatever order they are applied in, and allowed follows the rules: the
// root always writes, a granted log writes until its cut, a log granted
// before a later revocation that did not name it is cut at 0, and an
// admin's operation on an admin or granting admin is ignored.
func TestACLOrderFree(t *testing.T) {
	const root, adminLog, w1, w1b, w2 = "Lroot", "Ladmin", "Lw1", "Lw1b", "Lw2"
	owner, admin, x, y := hub.PubKey("owner"), hub.PubKey("admin"), hub.PubKey("x"), hub.PubKey("y")
	v := func(t int64, l string) version { return version{Time: t, Log: l} }
	byRoot := []aclOp{
		{v(1, root), owner, aclChange{Role: RoleAdmin, Logs: []string{root}}},
		{v(2, root), admin, aclChange{Role: RoleAdmin, Logs: []string{adminLog}}},
		{v(3, root), x, aclChange{Role: RoleWriter, Logs: []string{w1}}},
		{v(6, root), x, aclChange{Role: RoleNone, Cuts: map[string]int64{w1: 4}}},
		{v(7, root), x, aclChange{Role: RoleWriter, Logs: []string{w1b}}},
	}
	byAdmin := []aclOp{
		{v(4, adminLog), y, aclChange{Role: RoleWriter, Logs: []string{w2}}},
		{v(5, adminLog), y, aclChange{Role: RoleNone}}, // names no log: w2 is cut at 0
		{v(8, adminLog), admin, aclChange{Role: RoleNone, Cuts: map[string]int64{adminLog: 0}}},
		{v(9, adminLog), y, aclChange{Role: RoleAdmin, Logs: []string{"Lnope"}}},
	}
	read := func(seed uint64) *aclState {
		r := rand.New(rand.NewPCG(seed, 1))
		one, two := append([]aclOp(nil), byRoot...), append([]aclOp(nil), byAdmin...)
		r.Shuffle(len(one), func(i, j int) { one[i], one[j] = one[j], one[i] })
		r.Shuffle(len(two), func(i, j int) { two[i], two[j] = two[j], two[i] })
		s := &aclState{Root: root, Members: map[hub.PubKey]acler{}, Logs: map[string]aclLog{}}
		sortOps(one)
		for _, op := range one {
			s.apply(op, true, nil)
		}
		sortOps(two)
		for _, op := range two {
			s.apply(op, false, map[hub.PubKey]bool{owner: true, admin: true})
		}
		return s
	}
	first := read(0)
	for seed := uint64(1); seed < 50; seed++ {
		if s := read(seed); !reflect.DeepEqual(s, first) {
			t.Fatalf("order %d read %+v; order 0 read %+v", seed, s, first)
		}
	}
	for _, tc := range []struct {
		log  string
		want int64
	}{
		{root, unlimited}, {adminLog, unlimited}, {w1, 4}, {w1b, unlimited}, {w2, 0}, {"Lnope", 0}, {"Lstranger", 0},
	} {
		if got, why := first.allowed(tc.log); got != tc.want {
			t.Errorf("allowed(%s) = %d (%s); want %d", tc.log, got, why, tc.want)
		}
	}
	if !first.admin(adminLog) || first.admin(w1b) {
		t.Errorf("admin(%s) = %v, admin(%s) = %v; want true, false", adminLog, first.admin(adminLog), w1b, first.admin(w1b))
	}
}

// TestACLRefusals: what a caller gets wrong about access control is
// refused with a kind and a message that says what to do, and changes
// nothing.
func TestACLRefusals(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, Config{})
	owner, other := user(t), user(t)
	acl, err := threads.NewID(threads.AccessControlled)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Threads(owner).NewDB(ctx, acl, hub.DBOptions{})
	errorstest.WantKind(t, err, errors.Invalid, "send a raw ID")

	raw := newDB(t, m, owner)
	err = raw.Grant(ctx, owner, other.Owner(), RoleWriter, nil)
	errorstest.WantKind(t, err, errors.FailedPrecondition, "not access controlled")
	_, err = raw.ACL(ctx)
	errorstest.WantKind(t, err, errors.FailedPrecondition, "not access controlled")

	info, err := m.NewACLDB(ctx, owner, "acl", nil, []CollectionConfig{people()})
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.DB(ctx, owner, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		who  hub.PubKey
		role Role
		logs []string
		kind errors.Kind
		msg  string
	}{
		{"malformed identity", "not-a-key", RoleWriter, nil, errors.Invalid, "identity"},
		{"malformed log", other.Owner(), RoleWriter, []string{"not-a-peer"}, errors.Invalid, "not a peer ID"},
		{"unknown role", other.Owner(), Role(9), nil, errors.Invalid, "unknown role"},
		{"the owner's own role", owner.Owner(), RoleReader, nil, errors.Invalid, "always its admin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errorstest.WantKind(t, d.Grant(ctx, owner, tc.who, tc.role, tc.logs), tc.kind, tc.msg)
		})
	}
	members, err := d.ACL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0].Identity != owner.Owner() || members[0].Role != RoleAdmin {
		t.Fatalf("after refused grants the list is %+v; want the owner as admin alone", members)
	}
	_, err = ParseRole("boss")
	errorstest.WantKind(t, err, errors.Invalid, "use none, reader, writer or admin")
}

// TestIngestBatchACL: in a batch of peer records, one the list refuses is
// not stored and the others are still applied; a grant in the batch is
// read before the records after it, so the granted writer's record that
// follows it is kept.
func TestIngestBatchACL(t *testing.T) {
	ctx := context.Background()
	ma := newManager(t, Config{})
	owner, w := user(t), user(t)
	info, err := ma.NewACLDB(ctx, owner, "acl", nil, []CollectionConfig{people()})
	if err != nil {
		t.Fatal(err)
	}
	da, err := ma.DB(ctx, owner, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	lid, err := da.LogID(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := da.Grant(ctx, owner, w.Owner(), RoleWriter, []string{lid}); err != nil {
		t.Fatal(err)
	}
	err = write(t, da, w, "people", func(x *Txn) error {
		_, err := x.Create(ctx, [][]byte{[]byte(`{"_id":"w1","name":"w","age":1}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	root, err := threads.RootLog(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	logs := (&replica{m: ma, d: da}).logRecords(t)
	rootRecs, wRecs := logs[root], logs[mustDecodePeer(t, lid)]
	if len(rootRecs) < 2 || len(wRecs) != 1 {
		t.Fatalf("root log holds %d records, the writer's %d; want the grant last of at least 2, and 1", len(rootRecs), len(wRecs))
	}
	before, grant, w1 := rootRecs[:len(rootRecs)-1], rootRecs[len(rootRecs)-1], wRecs[0]

	for _, tc := range []struct {
		name  string
		batch [][]threads.Block
		n     int
		ids   []string // visible after
	}{
		{"refused then granted", append(append(append([][]threads.Block{}, before...), w1, grant), w1), len(rootRecs) + 1, []string{"w1"}},
		{"refused, the rest applied", append(append([][]threads.Block{}, before...), w1, grant), len(rootRecs), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mb := newManager(t, Config{})
			if _, err := mb.NewDB(ctx, user(t), info.ID, "acl", &info.Key, nil); err != nil {
				t.Fatal(err)
			}
			db, err := mb.open(info.ID)
			if err != nil {
				t.Fatal(err)
			}
			n, err := db.IngestBatch(ctx, tc.batch)
			errorstest.WantKind(t, err, errors.FailedPrecondition, "access control list")
			var refusal *ACLRefusal
			if !stderrors.As(err, &refusal) || refusal.Log != lid {
				t.Fatalf("IngestBatch's refusal %v is not the list's refusal of log %s", err, lid)
			}
			if n != tc.n {
				t.Fatalf("IngestBatch applied %d records; want %d", n, tc.n)
			}
			_, err = mb.threads.Log(info.ID, mustDecodePeer(t, lid))
			if tc.ids == nil {
				errorstest.WantKind(t, err, errors.NotExist, "")
			} else if err != nil {
				t.Fatal(err)
			}
			txn, err := db.ReadTxn(ctx, owner, "people")
			if err != nil {
				t.Fatal(err)
			}
			defer txn.Discard()
			found, err := txn.Find(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != len(tc.ids) {
				t.Fatalf("%d instances visible; want %v", len(found), tc.ids)
			}
			if got, _ := db.acl.Load().allowed(lid); got != unlimited {
				t.Fatalf("after the batch the writer's log is allowed %d records; want all", got)
			}
		})
	}
}

func mustDecodePeer(t *testing.T, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
