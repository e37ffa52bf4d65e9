package test

import (
	"encoding/json"
	"testing"

	"github.com/selfhub/hub"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// TestThreadsACL runs hubd as a process. A developer makes an
// access-controlled DB with an account key and lets two users of its app
// (user group key identities) in: the writer writes, the reader reads and
// is refused writes and grants, a user with no role does not see the DB,
// and a revoked writer loses it. What callers get wrong is refused with a
// status that says so.
func TestThreadsACL(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	p := testhub.StartProcess(t, bin, nil, hubdArgs(t.TempDir())...)
	conn := testhub.Dial(t, p.Addrs.API)
	hc, tc := hubclient.New(conn), threadsclient.New(conn)
	sctx, _ := signup(t, hc, "alice")
	acct, err := hc.CreateKey(sctx, hub.AccountKey, false)
	if err != nil {
		t.Fatal(err)
	}
	users, err := hc.CreateKey(sctx, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	owner := testhub.WithKey(t, acct)
	writerCtx, writerKey := testhub.NewUser(t, tc, users)
	readerCtx, readerKey := testhub.NewUser(t, tc, users)
	strangerCtx, strangerKey := testhub.NewUser(t, tc, users)
	writer, _ := identity.String(writerKey.GetPublic())
	reader, _ := identity.String(readerKey.GetPublic())
	stranger, _ := identity.String(strangerKey.GetPublic())

	db, err := tc.NewACLDB(owner, hub.DBOptions{Name: "team"})
	if err != nil {
		t.Fatal(err)
	}
	if db.Variant() != threads.AccessControlled {
		t.Fatalf("NewACLDB made a DB of variant %s", db.Variant())
	}
	if err := tc.NewCollection(owner, db, threadsclient.CollectionConfig{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	if err := tc.Grant(owner, db, writer, "writer", nil); err != nil {
		t.Fatal(err)
	}
	if err := tc.Grant(owner, db, reader, "reader", nil); err != nil {
		t.Fatal(err)
	}
	note := func(id string) json.RawMessage { return json.RawMessage(`{"_id":"` + id + `"}`) }
	if _, err := tc.Create(writerCtx, db, "notes", note("w1")); err != nil {
		t.Fatalf("a writer's create: %v", err)
	}
	if found, err := tc.Find(readerCtx, db, "notes", nil); err != nil || len(found) != 1 {
		t.Fatalf("a reader's find: %d instances, %v; want the writer's one", len(found), err)
	}
	_, err = tc.Create(readerCtx, db, "notes", note("r1"))
	errorstest.WantKind(t, err, errors.Permission, "may not write")
	err = tc.Grant(readerCtx, db, stranger, "writer", nil)
	errorstest.WantKind(t, err, errors.Permission, "only the owner and the admins")
	err = tc.Grant(owner, db, stranger, "boss", nil)
	errorstest.WantKind(t, err, errors.Invalid, "use none, reader, writer or admin")
	_, err = tc.Find(strangerCtx, db, "notes", nil)
	errorstest.WantKind(t, err, errors.NotExist, "not found")
	err = tc.DeleteDB(writerCtx, db)
	errorstest.WantKind(t, err, errors.NotExist, "not found")

	raw, err := tc.NewDB(owner, "", threadsclient.DBOptions{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tc.ACL(owner, raw)
	errorstest.WantKind(t, err, errors.FailedPrecondition, "not access controlled")
	made, _ := threads.NewID(threads.AccessControlled)
	_, err = tc.NewDB(owner, made, threadsclient.DBOptions{})
	errorstest.WantKind(t, err, errors.Invalid, "send a raw ID")

	if err := tc.Revoke(owner, db, writer); err != nil {
		t.Fatal(err)
	}
	_, err = tc.Create(writerCtx, db, "notes", note("w2"))
	errorstest.WantKind(t, err, errors.NotExist, "not found")
	members, err := tc.ACL(owner, db)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[hub.PubKey]string{}
	for _, m := range members {
		roles[m.Identity] = m.Role
	}
	if roles[writer] != "none" || roles[reader] != "reader" || len(roles) != 3 {
		t.Fatalf("the list after the revocation: %+v; want the owner, the reader, and the writer with none", members)
	}
	if found, err := tc.Find(readerCtx, db, "notes", nil); err != nil || len(found) != 1 {
		t.Fatalf("after the revocation a reader finds %d instances, %v; want the writer's first", len(found), err)
	}
}
