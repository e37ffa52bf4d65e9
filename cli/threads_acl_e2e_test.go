package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/selfhub/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// TestE2EThreadsACL: hub threads create --acl makes an access-controlled
// DB, hub threads acl grant, ls and revoke change and show its list, and
// refusals print the server's message.
func TestE2EThreadsACL(t *testing.T) {
	h := testhub.Start(t, nil)
	tc := threadsclient.New(h.Conn)
	alice := newDev(t, h)
	alice.signup("alice")
	db, err := threads.Decode(strings.TrimSpace(alice.ok("threads", "create", "--acl", "--name", "team")))
	if err != nil {
		t.Fatal(err)
	}
	if db.Variant() != threads.AccessControlled {
		t.Fatalf("threads create --acl made variant %s", db.Variant())
	}
	priv, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := identity.String(priv.GetPublic())
	if out := alice.ok("threads", "acl", "grant", db.String(), string(bob), "writer"); out != string(bob)+" is writer in DB "+db.String()+".\n" {
		t.Errorf("threads acl grant printed %q", out)
	}
	var members []aclMemberJSON
	alice.json(&members, "threads", "acl", "ls", "--json", db.String())
	roles := map[string]string{}
	for _, m := range members {
		roles[m.Identity] = m.Role
		if len(m.Logs) != 1 || m.Logs[0].Revoked {
			t.Errorf("member %s has logs %+v; want one, not revoked", m.Identity, m.Logs)
		}
	}
	if len(roles) != 2 || roles[string(bob)] != "writer" {
		t.Fatalf("threads acl ls --json = %+v; want alice as admin and bob as writer", members)
	}
	if table := alice.ok("threads", "acl", "ls", db.String()); !strings.HasPrefix(table, "IDENTITY") || !strings.Contains(table, string(bob)) {
		t.Errorf("threads acl ls printed\n%s", table)
	}
	if out := alice.ok("threads", "acl", "revoke", db.String(), string(bob)); out != string(bob)+" has no role in DB "+db.String()+".\n" {
		t.Errorf("threads acl revoke printed %q", out)
	}
	alice.json(&members, "threads", "acl", "ls", "--json", db.String())
	for _, m := range members {
		if m.Identity == string(bob) && (m.Role != "none" || !m.Logs[0].Revoked || m.Logs[0].Cut != 0) {
			t.Errorf("after revoke bob is %+v; want none, his log cut at 0", m)
		}
	}

	alice.threadsRefused(tc, "", errors.Invalid, "use none, reader, writer or admin", func(ctx context.Context, c *threadsclient.Client) error {
		return c.Grant(ctx, db, bob, "boss", nil)
	}, "threads", "acl", "grant", db.String(), string(bob), "boss")
	plain, err := tc.NewDB(alice.ctx(), "", threadsclient.DBOptions{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	alice.threadsRefused(tc, "", errors.FailedPrecondition, "not access controlled", func(ctx context.Context, c *threadsclient.Client) error {
		_, err := c.ACL(ctx, plain)
		return err
	}, "threads", "acl", "ls", plain.String())
	alice.threadsRefused(tc, "", errors.Invalid, "identity", func(ctx context.Context, c *threadsclient.Client) error {
		return c.Grant(ctx, db, hub.PubKey("nobody"), "reader", nil)
	}, "threads", "acl", "grant", db.String(), "nobody", "reader")
}
