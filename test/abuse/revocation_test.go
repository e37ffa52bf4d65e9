package abuse

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
)

// victim is a principal whose access a revocation case ends.
type victim struct {
	tc   *threadsclient.Client
	acts context.Context // the credentials the victim acts with
	db   threadsclient.ID
	// revoke ends the victim's access.
	revoke func() error
	// reader, if not nil, returns credentials that still read db after
	// the revocation, to check that the victim's transaction stored
	// nothing; nil where nobody can (the account or org is gone).
	reader func(t *testing.T) context.Context
}

// TestRevocationEndsOpenStreams: a principal holds a Listen and a write
// transaction open; then its access ends, each way it can: its app key is
// invalidated, its session ends, it leaves the org it acts as, the org is
// removed (for a member and for a user of the org's app), its account is
// destroyed (a developer, a user of its app, a member of an org: which
// also removes them from the org; there is no call that removes another
// member). The Listen ends with Unauthenticated, or PermissionDenied for
// a principal acting as an org; the transaction's commit fails the same
// way and stores nothing; new calls are refused; another tenant is served
// throughout.
func TestRevocationEndsOpenStreams(t *testing.T) {
	h := startHub(t)
	other := newTenant(t, h, "bystander")
	unauth, denied := []errors.Kind{errors.Unauthenticated}, []errors.Kind{errors.Permission}

	// orgCase makes an org of a fresh owner with a fresh member acting as
	// it on an org DB.
	orgCase := func(t *testing.T, name string) (owner, member *tenant, octx context.Context, v victim) {
		owner, member = newTenant(t, h, name+"-owner"), newTenant(t, h, name+"-member")
		org, err := owner.Hub.CreateOrg(owner.Dev, "Org "+name)
		if err != nil {
			t.Fatal(err)
		}
		octx = client.WithOrg(owner.Dev, org.Slug)
		joinOrg(t, h, owner.Hub, octx, name+"-member@example.com")
		db := notesDB(t, owner.Threads, octx)
		return owner, member, octx, victim{tc: member.Threads, acts: client.WithOrg(member.Dev, org.Slug), db: db}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T) victim
		want  []errors.Kind
	}{
		{"invalidate key", func(t *testing.T) victim {
			tn := newTenant(t, h, "keyuser")
			return victim{tc: tn.Threads, acts: tn.User, db: tn.notesDB(t),
				revoke: func() error { return tn.Hub.InvalidateKey(tn.Dev, tn.AppKey.Key) },
				reader: func(t *testing.T) context.Context {
					k, err := tn.Hub.CreateKey(tn.Dev, hub.UserKey, false)
					if err != nil {
						t.Fatal(err)
					}
					keyed := testhub.WithKey(t, k)
					tok, err := tn.Threads.GetToken(keyed, tn.UserKey)
					if err != nil {
						t.Fatal(err)
					}
					return client.WithToken(keyed, tok)
				}}
		}, unauth},
		{"sign out", func(t *testing.T) victim {
			tn := newTenant(t, h, "signsout")
			return victim{tc: tn.Threads, acts: tn.Dev, db: notesDB(t, tn.Threads, tn.Dev),
				revoke: func() error { return tn.Hub.Signout(tn.Dev) },
				reader: func(t *testing.T) context.Context {
					s, err := tn.Hub.Signin(context.Background(), "signsout")
					if err != nil {
						t.Fatal(err)
					}
					return client.WithSession(context.Background(), s.ID)
				}}
		}, unauth},
		{"leave org", func(t *testing.T) victim {
			_, member, octx, v := orgCase(t, "leaving")
			v.revoke = func() error { return member.Hub.LeaveOrg(v.acts) }
			v.reader = func(*testing.T) context.Context { return octx }
			return v
		}, denied},
		{"org removed, a member", func(t *testing.T) victim {
			owner, _, octx, v := orgCase(t, "removed")
			v.revoke = func() error { return owner.Hub.RemoveOrg(octx) }
			return v
		}, denied},
		{"org removed, a user of its app", func(t *testing.T) victim {
			owner := newTenant(t, h, "orgapp-owner")
			org, err := owner.Hub.CreateOrg(owner.Dev, "Org app")
			if err != nil {
				t.Fatal(err)
			}
			octx := client.WithOrg(owner.Dev, org.Slug)
			app, err := owner.Hub.CreateKey(octx, hub.UserKey, false)
			if err != nil {
				t.Fatal(err)
			}
			user, _ := (&tenant{Threads: owner.Threads, AppKey: app}).newUser(t)
			return victim{tc: owner.Threads, acts: user, db: notesDB(t, owner.Threads, user),
				revoke: func() error { return owner.Hub.RemoveOrg(octx) }}
		}, unauth},
		{"account destroyed, a user of its app", func(t *testing.T) victim {
			tn := newTenant(t, h, "destroyed-app")
			return victim{tc: tn.Threads, acts: tn.User, db: tn.notesDB(t),
				revoke: func() error { return tn.Hub.DestroyAccount(tn.Dev) }}
		}, unauth},
		{"account destroyed, the developer", func(t *testing.T) victim {
			tn := newTenant(t, h, "destroyed-dev")
			return victim{tc: tn.Threads, acts: tn.Dev, db: notesDB(t, tn.Threads, tn.Dev),
				revoke: func() error { return tn.Hub.DestroyAccount(tn.Dev) }}
		}, unauth},
		{"account destroyed, a member of an org", func(t *testing.T) victim {
			_, member, octx, v := orgCase(t, "destroyed-member")
			v.revoke = func() error { return member.Hub.DestroyAccount(member.Dev) }
			v.reader = func(*testing.T) context.Context { return octx }
			return v
		}, []errors.Kind{errors.Permission, errors.Unauthenticated}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := c.setup(t)
			ended := listening(t, v.tc, v.acts, v.db, func() {
				if _, err := v.tc.Create(v.acts, v.db, "notes", json.RawMessage(`{"text":"before"}`)); err != nil {
					t.Fatalf("Create: %v", err)
				}
			})
			txn, err := v.tc.WriteTransaction(v.acts, v.db, "notes")
			if err != nil {
				t.Fatalf("WriteTransaction: %v", err)
			}
			ids, err := txn.Create(json.RawMessage(`{"text":"in the revoked transaction"}`))
			if err != nil {
				t.Fatalf("txn Create: %v", err)
			}

			revoked := time.Now()
			if err := v.revoke(); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			select {
			case err := <-ended:
				if !slices.Contains(c.want, errors.KindOf(err)) {
					t.Fatalf("the Listen ended with %v; want one of %v", err, c.want)
				}
				t.Logf("the Listen ended %s after the revocation: %v", time.Since(revoked).Round(time.Millisecond), errors.Message(err))
			case <-time.After(2 * time.Minute):
				t.Fatal("the Listen is still open 2 minutes after the revocation")
			}
			if err := txn.End(); !slices.Contains(c.want, errors.KindOf(err)) {
				t.Fatalf("committing the transaction after the revocation gave %v; want one of %v", err, c.want)
			}
			_, err = v.tc.Create(v.acts, v.db, "notes", json.RawMessage(`{"text":"after"}`))
			if k := errors.KindOf(err); !slices.Contains(c.want, k) && k != errors.NotExist {
				t.Fatalf("a new call after the revocation gave %v; want it refused", err)
			}
			if v.reader != nil {
				if _, err := v.tc.FindByID(v.reader(t), v.db, "notes", ids[0]); !errors.Is(errors.NotExist, err) {
					t.Fatalf("FindByID of the revoked transaction's instance gave %v; want NotFound", err)
				}
			}
			other.mustBeServed(t)
			h.alive(t)
		})
	}
}

// notesDB makes a DB of the tenant's user with a collection "notes".
func (tn *tenant) notesDB(t testing.TB) threadsclient.ID {
	t.Helper()
	return notesDB(t, tn.Threads, tn.User)
}

// notesDB makes a DB with a collection "notes", as whoever ctx's
// credentials name.
func notesDB(t testing.TB, tc *threadsclient.Client, ctx context.Context) threadsclient.ID {
	t.Helper()
	id, err := tc.NewDB(ctx, "", threadsclient.DBOptions{
		Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatalf("NewDB: %v", err)
	}
	return id
}
