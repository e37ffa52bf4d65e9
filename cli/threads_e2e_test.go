package cli

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
	"github.com/selfhub/hub/threads"
)

// threadsRefused is dev.refused for threads calls: hub must fail with
// exactly the message the server gives the same call made with the Go
// client and the developer's session (and org, when given).
func (d *dev) threadsRefused(tc *threadsclient.Client, org string, kind errors.Kind, hint string, call func(context.Context, *threadsclient.Client) error, args ...string) {
	d.t.Helper()
	got := d.errorLine(args...)
	ctx := d.ctx()
	if org != "" {
		ctx = client.WithOrg(ctx, org)
	}
	err := call(ctx, tc)
	if !errors.Is(kind, err) {
		d.t.Fatalf("hub %s: the server answered the same call with %v (kind %v), want kind %v", strings.Join(args, " "), err, errors.KindOf(err), kind)
	}
	if want := errors.Message(err); got != want || !strings.Contains(want, hint) {
		d.t.Fatalf("hub %s: error %q; want the server's message %q, containing %q", strings.Join(args, " "), got, want, hint)
	}
}

// dbIDs returns the IDs in a hub threads ls --json listing, sorted.
func dbIDs(dbs []dbJSON) []string {
	out := make([]string, len(dbs))
	for i, d := range dbs {
		out[i] = d.ID
	}
	slices.Sort(out)
	return out
}

// headerFirst returns a table with its rows (not its header) sorted.
func headerFirst(table string) string {
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	slices.Sort(lines[1:])
	return strings.Join(lines, "\n") + "\n"
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func TestE2EThreads(t *testing.T) {
	h := testhub.Start(t, nil)
	tc := threadsclient.New(h.Conn)
	alice := newDev(t, h)

	alice.fails("not logged in; run hub login (or hub init to sign up)", "threads", "ls")
	alice.signup("alice")

	// Nothing yet: an empty table is a note on stderr, JSON an empty list.
	out, errs, code := alice.run(nil, "threads", "ls")
	if code != 0 || out != "" || !strings.Contains(errs, "No DBs") {
		t.Errorf("threads ls with no DBs: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out := alice.ok("threads", "ls", "--json"); out != "[]\n" {
		t.Errorf("threads ls --json with no DBs printed %q", out)
	}

	// create prints the new ID alone, for scripts.
	out = alice.ok("threads", "create", "--name", "notes")
	notes, err := threads.Decode(strings.TrimSuffix(out, "\n"))
	if err != nil || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("threads create printed %q (%v), want a DB ID and a newline", out, err)
	}
	var created dbJSON
	alice.json(&created, "threads", "create", "--json")
	if created.Name != "" || created.ID == "" || created.ID == notes.String() || created.Key == "" || len(created.Addrs) == 0 {
		t.Fatalf("threads create --json = %+v", created)
	}
	for _, a := range created.Addrs {
		if !strings.HasSuffix(a, "/thread/"+created.ID) {
			t.Errorf("address %q does not end in /thread/%s", a, created.ID)
		}
	}

	// The CLI's DBs are the ones alice's apps reach with her account key,
	// and the other way round.
	k, err := alice.hc.CreateKey(alice.ctx(), hub.AccountKey, true)
	if err != nil {
		t.Fatal(err)
	}
	appDB, err := tc.NewDB(testhub.WithKey(t, k), "", threadsclient.DBOptions{Name: "from-the-app"})
	if err != nil {
		t.Fatal(err)
	}
	viaKey, err := tc.ListDBs(testhub.WithKey(t, k))
	if err != nil {
		t.Fatal(err)
	}
	var keyIDs []string
	for _, d := range viaKey {
		keyIDs = append(keyIDs, d.ID.String())
	}
	slices.Sort(keyIDs)
	var dbs []dbJSON
	alice.json(&dbs, "threads", "ls", "--json")
	if want := sorted(notes.String(), created.ID, appDB.String()); !slices.Equal(dbIDs(dbs), want) || !slices.Equal(keyIDs, want) {
		t.Errorf("threads ls --json lists %v, the account key %v; want %v", dbIDs(dbs), keyIDs, want)
	}
	for _, d := range dbs {
		if d.ID == created.ID && !(d.Key == created.Key && slices.Equal(d.Addrs, created.Addrs)) {
			t.Errorf("threads ls --json entry %+v, create said %+v", d, created)
		}
	}
	table := alice.ok("threads", "ls")
	if !sameRows(headerFirst(table), append([]string{"ID NAME"}, sorted(notes.String()+" notes", created.ID+" -", appDB.String()+" from-the-app")...)) {
		t.Errorf("threads ls printed\n%s", table)
	}

	// A user of alice's app keeps their DBs to themselves.
	uk, err := alice.hc.CreateKey(alice.ctx(), hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := getToken(t, h, testhub.WithKey(t, uk))
	if err != nil {
		t.Fatal(err)
	}
	userDB, err := tc.NewDB(client.WithToken(testhub.WithKey(t, uk), tok), "", threadsclient.DBOptions{Name: "notes"})
	if err != nil {
		t.Fatal(err)
	}
	alice.json(&dbs, "threads", "ls", "--json")
	if slices.Contains(dbIDs(dbs), userDB.String()) {
		t.Errorf("threads ls lists the user's DB %s", userDB)
	}
	alice.threadsRefused(tc, "", errors.NotExist, "not found", func(ctx context.Context, c *threadsclient.Client) error {
		return c.DeleteDB(ctx, userDB)
	}, "threads", "rm", "--yes", userDB.String())

	// Names are unique among alice's DBs.
	alice.threadsRefused(tc, "", errors.Exist, `"notes"`, func(ctx context.Context, c *threadsclient.Client) error {
		_, err := c.NewDB(ctx, "", threadsclient.DBOptions{Name: "notes"})
		return err
	}, "threads", "create", "--name", "notes")

	// rm asks first, checks the ID, and deletes.
	alice.fails("refusing without confirmation; pass --yes when stdin is not a terminal", "threads", "rm", notes.String())
	if got := alice.errorLine("threads", "rm", "--yes", "not-an-id"); !strings.Contains(got, "not a multibase string") || !strings.Contains(got, "hub threads ls") {
		t.Errorf("threads rm of a malformed ID: %q", got)
	}
	if _, errs, code := alice.run(strings.NewReader("n\n"), "threads", "rm", notes.String()); code != 1 || !strings.HasSuffix(errs, "Error: aborted\n") {
		t.Errorf("threads rm answered no: exit %d, stderr %q", code, errs)
	}
	if out := alice.ok("threads", "rm", "--yes", notes.String()); out != "Deleted DB "+notes.String()+".\n" {
		t.Errorf("threads rm printed %q", out)
	}
	alice.threadsRefused(tc, "", errors.NotExist, "not found", func(ctx context.Context, c *threadsclient.Client) error {
		return c.DeleteDB(ctx, notes)
	}, "threads", "rm", "--yes", notes.String())
	alice.json(&dbs, "threads", "ls", "--json")
	if want := sorted(created.ID, appDB.String()); !slices.Equal(dbIDs(dbs), want) {
		t.Errorf("threads ls after rm = %v, want %v", dbIDs(dbs), want)
	}

	// With -o the commands act as the org: its DBs are its own.
	const slug = "acme-inc"
	alice.ok("orgs", "create", "Acme Inc")
	orgNotes, err := threads.Decode(strings.TrimSpace(alice.ok("threads", "create", "-o", slug, "--name", "notes")))
	if err != nil {
		t.Fatal(err)
	}
	alice.json(&dbs, "threads", "ls", "-o", slug, "--json")
	if !slices.Equal(dbIDs(dbs), []string{orgNotes.String()}) || dbs[0].Name != "notes" {
		t.Errorf("threads ls -o %s = %+v, want only %s", slug, dbs, orgNotes)
	}
	alice.json(&dbs, "threads", "ls", "--json")
	if slices.Contains(dbIDs(dbs), orgNotes.String()) {
		t.Errorf("alice's threads ls lists the org's DB")
	}
	alice.threadsRefused(tc, "", errors.NotExist, "not found", func(ctx context.Context, c *threadsclient.Client) error {
		return c.DeleteDB(ctx, orgNotes)
	}, "threads", "rm", "--yes", orgNotes.String())

	bob := newDev(t, h)
	bob.signup("bob")
	bob.threadsRefused(tc, slug, errors.Permission, "not a member", func(ctx context.Context, c *threadsclient.Client) error {
		_, err := c.ListDBs(ctx)
		return err
	}, "threads", "ls", "-o", slug)
	bob.json(&dbs, "threads", "ls", "--json")
	if len(dbs) != 0 {
		t.Errorf("bob's threads ls = %+v, want none", dbs)
	}

	if out := alice.ok("threads", "rm", "-o", slug, "--yes", orgNotes.String()); out != "Deleted DB "+orgNotes.String()+".\n" {
		t.Errorf("threads rm -o printed %q", out)
	}
	alice.json(&dbs, "threads", "ls", "-o", slug, "--json")
	if len(dbs) != 0 {
		t.Errorf("the org's DBs after rm = %+v", dbs)
	}
}
