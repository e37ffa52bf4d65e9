package test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
)

// TestDBLimitPerOwner runs hubd with --max-dbs-per-owner 2: an owner's
// third DB is refused over the wire with ResourceExhausted and a message
// that names the limit, leaving the owner's two DBs as they were; the
// limit is each owner's, and deleting a DB frees its place.
func TestDBLimitPerOwner(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hubd")
	p := testhub.StartProcess(t, bin, nil, append(hubdArgs(t.TempDir()), "--max-dbs-per-owner", "2")...)
	conn := testhub.Dial(t, p.Addrs.API)
	hc, tc := hubclient.New(conn), threadsclient.New(conn)
	alice, _ := signup(t, hc, "alice")
	bob, _ := signup(t, hc, "bob")

	var made []threadsclient.ID
	for _, name := range []string{"one", "two"} {
		id, err := tc.NewDB(alice, "", threadsclient.DBOptions{Name: name})
		if err != nil {
			t.Fatalf("NewDB %s: %v", name, err)
		}
		made = append(made, id)
	}
	_, err := tc.NewDB(alice, "", threadsclient.DBOptions{Name: "three"})
	if code := rpcerr.Code(err); code != codes.ResourceExhausted {
		t.Fatalf("third NewDB: %v (code %v); want ResourceExhausted", err, code)
	}
	if msg := errors.Message(err); !strings.Contains(msg, "2 DBs") || !strings.Contains(msg, "limit") {
		t.Fatalf("third NewDB says %q; want the limit, 2 DBs, named", msg)
	}
	listed := func() []threadsclient.ID {
		t.Helper()
		infos, err := tc.ListDBs(alice)
		if err != nil {
			t.Fatal(err)
		}
		var ids []threadsclient.ID
		for _, info := range infos {
			ids = append(ids, info.ID)
		}
		slices.Sort(ids)
		return ids
	}
	slices.Sort(made)
	if got := listed(); !slices.Equal(got, made) {
		t.Fatalf("after the refusal alice lists %v; want her two DBs %v", got, made)
	}

	// Another owner has a limit of its own.
	for _, name := range []string{"one", "two"} {
		if _, err := tc.NewDB(bob, "", threadsclient.DBOptions{Name: name}); err != nil {
			t.Fatalf("bob's NewDB %s: %v", name, err)
		}
	}
	// The refusal says to delete a DB first; that makes room.
	if err := tc.DeleteDB(alice, made[0]); err != nil {
		t.Fatal(err)
	}
	third, err := tc.NewDB(alice, "", threadsclient.DBOptions{Name: "three"})
	if err != nil {
		t.Fatalf("NewDB after a DeleteDB: %v", err)
	}
	want := []threadsclient.ID{made[1], third}
	slices.Sort(want)
	if got := listed(); !slices.Equal(got, want) {
		t.Fatalf("alice lists %v; want %v", got, want)
	}
}
