package cli

// End-to-end tests: the hub command, in-process and as a built binary,
// against a real hubd (dev mode, so sign-up needs no e-mail). Each test
// function shares one daemon among its developers; each developer has its
// own HUB_HOME.

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

func TestE2ESignupAndSessions(t *testing.T) {
	h := testhub.Start(t, nil)
	alice := newDev(t, h)
	out := alice.ok("init", "--username", "alice", "--email", "alice@example.com")
	first := alice.config()
	if !strings.HasPrefix(out, "Signed up and logged in as alice <alice@example.com>.\n") {
		t.Errorf("init printed %q", out)
	}

	// whoami shows what the server knows of the session.
	info, err := alice.hc.SessionInfo(alice.ctx())
	if err != nil {
		t.Fatal(err)
	}
	var who map[string]any
	alice.json(&who, "whoami", "--json")
	if want := map[string]any{"username": "alice", "email": "alice@example.com", "key": string(info.Key)}; !reflect.DeepEqual(who, want) {
		t.Errorf("whoami --json = %v, want exactly %v", who, want)
	}
	if first.Key != info.Key {
		t.Errorf("stored key %s, server says %s", first.Key, info.Key)
	}

	// The same name again is refused by the server, and the stored
	// session is left alone.
	alice.refused(errors.Exist, `username "alice" is taken`, func(ctx context.Context, c *hubclient.Client) error {
		_, err := c.Signup(ctx, "alice", "alice2@example.com")
		return err
	}, "init", "--username", "alice", "--email", "alice2@example.com")
	if c := alice.config(); c != first {
		t.Errorf("config after the refused init = %+v, want %+v", c, first)
	}

	if out := alice.ok("logout"); out != "Logged out.\n" {
		t.Errorf("logout printed %q", out)
	}
	alice.fails("not logged in; run hub login (or hub init to sign up)", "whoami")
	if out := alice.ok("logout"); out != "Not logged in.\n" {
		t.Errorf("second logout printed %q", out)
	}
	// The server ended the session, not just hub forgetting it.
	alice.env["HUB_SESSION"] = first.Session
	alice.refused(errors.Unauthenticated, "session not found", sessionInfo, "whoami")
	delete(alice.env, "HUB_SESSION")

	var sessions []string
	for _, name := range []string{"alice@example.com", "alice"} {
		if out := alice.ok("login", name); out != "Logged in as alice <alice@example.com>.\n" {
			t.Errorf("login %s printed %q", name, out)
		}
		c := alice.config()
		if c.Username != "alice" || c.Email != "alice@example.com" || c.Key != info.Key || c.API != h.Addrs.API {
			t.Errorf("config after login %s = %+v", name, c)
		}
		alice.json(&who, "whoami", "--json")
		if who["username"] != "alice" || who["key"] != string(info.Key) {
			t.Errorf("whoami after login %s = %v", name, who)
		}
		sessions = append(sessions, c.Session)
	}
	if sessions[0] == sessions[1] || sessions[0] == first.Session {
		t.Errorf("sessions %q after sign-up %q: each login must open a new one", sessions, first.Session)
	}

	// After logout, the session is refused even when given by hand.
	alice.ok("logout")
	alice.env["HUB_SESSION"] = sessions[1]
	alice.refused(errors.Unauthenticated, "session not found", sessionInfo, "whoami")
	alice.refused(errors.Unauthenticated, "session not found", func(ctx context.Context, c *hubclient.Client) error {
		_, err := c.ListKeys(ctx)
		return err
	}, "keys", "ls")
	delete(alice.env, "HUB_SESSION")

	alice.refused(errors.NotExist, "sign up first", func(ctx context.Context, c *hubclient.Client) error {
		_, err := c.Signin(ctx, "nobody")
		return err
	}, "login", "nobody")
}

func sessionInfo(ctx context.Context, c *hubclient.Client) error {
	_, err := c.SessionInfo(ctx)
	return err
}

// getToken runs the threads GetToken exchange for a new user identity with
// the key in ctx.
func getToken(t *testing.T, h *testhub.Hub, ctx context.Context) (string, error) {
	t.Helper()
	priv, err := identity.New()
	if err != nil {
		t.Fatal(err)
	}
	return threadsclient.New(h.Conn).GetToken(ctx, priv)
}

func TestE2EKeys(t *testing.T) {
	h := testhub.Start(t, nil)
	alice := newDev(t, h)
	alice.signup("alice")
	bg := context.Background()

	type created struct {
		typ    string
		secure bool
		key    string
		secret string
	}
	var keys []created
	for _, typ := range []string{"account", "user"} {
		for _, secure := range []bool{true, false} {
			args := []string{"keys", "create", "--type", typ, "--secure=" + strconv.FormatBool(secure), "--json"}
			var k map[string]any
			alice.json(&k, args...)
			key, _ := k["key"].(string)
			secret, _ := k["secret"].(string)
			if len(k) != 4 || k["type"] != typ || k["secure"] != secure || !strings.HasPrefix(key, "b") || !strings.HasPrefix(secret, "b") {
				t.Fatalf("hub %s = %v; want exactly key, secret, type %q, secure %v", strings.Join(args, " "), k, typ, secure)
			}
			keys = append(keys, created{typ, secure, key, secret})
		}
	}
	listed := func() []map[string]any {
		var l []map[string]any
		alice.json(&l, "keys", "ls", "--json")
		return l
	}
	valid := func(l []map[string]any) []bool {
		if len(l) != len(keys) {
			t.Fatalf("keys ls --json = %v, want %d keys", l, len(keys))
		}
		var v []bool
		for i, k := range keys {
			want := map[string]any{"key": k.key, "secret": k.secret, "type": k.typ, "secure": k.secure, "valid": l[i]["valid"]}
			if !reflect.DeepEqual(l[i], want) {
				t.Errorf("keys ls --json [%d] = %v, want %v", i, l[i], want)
			}
			b, _ := l[i]["valid"].(bool)
			v = append(v, b)
		}
		return v
	}
	if v := valid(listed()); !reflect.DeepEqual(v, []bool{true, true, true, true}) {
		t.Errorf("valid = %v, want all true", v)
	}

	// A secure account key works when signed.
	acct := keys[0]
	signed, err := client.WithAPIKey(bg, acct.key, acct.secret)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := getToken(t, h, signed); err != nil || tok == "" {
		t.Fatalf("GetToken with a signed account key = %q, %v", tok, err)
	}
	// The account API serves sessions only, whatever the key.
	_, err = hubclient.New(h.Conn).ListKeys(signed)
	errorstest.WantKind(t, err, errors.Permission, "needs a developer session")
	// An expired signature and a missing one are refused.
	expired, err := client.WithAPISig(bg, acct.key, acct.secret, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	_, err = getToken(t, h, expired)
	errorstest.WantKind(t, err, errors.Unauthenticated, "expired")
	unsigned, err := client.WithAPIKey(bg, acct.key, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = getToken(t, h, unsigned)
	errorstest.WantKind(t, err, errors.Unauthenticated, "secure")

	// User keys, secure or not, give user tokens.
	for _, k := range keys[2:] {
		secret := ""
		if k.secure {
			secret = k.secret
		}
		ctx, err := client.WithAPIKey(bg, k.key, secret)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := getToken(t, h, ctx); err != nil || tok == "" {
			t.Errorf("GetToken with user key (secure %v) = %q, %v", k.secure, tok, err)
		}
	}

	// An invalidated key is refused even with a good signature.
	if out := alice.ok("keys", "invalidate", acct.key); out != "Invalidated key "+acct.key+".\n" {
		t.Errorf("keys invalidate printed %q", out)
	}
	_, err = getToken(t, h, signed)
	errorstest.WantKind(t, err, errors.Unauthenticated, "invalidated")
	if v := valid(listed()); !reflect.DeepEqual(v, []bool{false, true, true, true}) {
		t.Errorf("valid after invalidating the first key = %v", v)
	}
	alice.refused(errors.NotExist, "not found", func(ctx context.Context, c *hubclient.Client) error {
		return c.InvalidateKey(ctx, "bnosuchkey")
	}, "keys", "invalidate", "bnosuchkey")
}

// invite runs hub orgs invite and returns the link e-mailed to the
// invitee: the command itself shows no token, or the inviter could accept
// for them.
func (d *dev) invite(mp *testhub.Mailpit, email, slug string) string {
	d.t.Helper()
	out := d.ok("orgs", "invite", email, "-o", slug)
	if !strings.HasPrefix(out, "Invited "+email+" to "+slug+": the invitation link was e-mailed") || strings.Contains(out, "/consent/") {
		d.t.Fatalf("orgs invite printed %q", out)
	}
	return testhub.Link(d.t, mp.Next(email).Text)
}

// members returns hub orgs members --json as "username:role" strings.
func (d *dev) members(slug string) []string {
	d.t.Helper()
	var ms []memberJSON
	d.json(&ms, "orgs", "members", "-o", slug, "--json")
	var out []string
	for _, m := range ms {
		out = append(out, m.Username+":"+m.Role)
	}
	sort.Strings(out)
	return out
}

func TestE2EOrgs(t *testing.T) {
	mp := testhub.StartMailpit(t)
	h := testhub.Start(t, func(c *daemon.Config) { c.SMTPAddr, c.SMTPFrom = mp.SMTPAddr, "hub@hub.test" })
	alice := newDev(t, h)
	alice.signup("alice")
	const slug = "acme-inc"
	withOrg := func(f func(context.Context, *hubclient.Client) error) func(context.Context, *hubclient.Client) error {
		return func(ctx context.Context, c *hubclient.Client) error { return f(client.WithOrg(ctx, slug), c) }
	}
	getOrg := withOrg(func(ctx context.Context, c *hubclient.Client) error { _, err := c.GetOrg(ctx); return err })

	before := time.Now().Add(-time.Second)
	alice.ok("orgs", "create", "Acme Inc")
	var orgs []orgJSON
	alice.json(&orgs, "orgs", "ls", "--json")
	aliceKey := string(alice.config().Key)
	owner := memberJSON{Key: aliceKey, Username: "alice", Role: "owner"}
	if len(orgs) != 1 || orgs[0].Slug != slug || orgs[0].Name != "Acme Inc" || !strings.HasPrefix(orgs[0].Key, "b") ||
		!reflect.DeepEqual(orgs[0].Members, []memberJSON{owner}) {
		t.Fatalf("orgs ls --json = %+v", orgs)
	}
	if at, err := time.Parse(time.RFC3339, orgs[0].CreatedAt); err != nil || at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
		t.Errorf("created_at = %q (%v), want about now", orgs[0].CreatedAt, err)
	}
	var ms []memberJSON
	alice.json(&ms, "orgs", "members", "-o", slug, "--json")
	if !reflect.DeepEqual(ms, []memberJSON{owner}) {
		t.Errorf("orgs members --json = %+v, want [%+v]", ms, owner)
	}

	// -o gives the org a key of its own, not listed among alice's.
	var orgKey keyJSON
	alice.json(&orgKey, "keys", "create", "-o", slug, "--json")
	var mine, theirs []keyListJSON
	alice.json(&mine, "keys", "ls", "--json")
	alice.json(&theirs, "keys", "ls", "-o", slug, "--json")
	if len(mine) != 0 || len(theirs) != 1 || theirs[0].keyJSON != orgKey || !theirs[0].Valid {
		t.Errorf("alice's keys %+v, the org's %+v; want the org's key %+v only in the org's", mine, theirs, orgKey)
	}
	orgKeyCtx, err := client.WithAPIKey(context.Background(), orgKey.Key, orgKey.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getToken(t, h, orgKeyCtx); err != nil {
		t.Errorf("GetToken with the org's key: %v", err)
	}

	// Someone new: the link is followed first, the sign-up comes after.
	link := alice.invite(mp, "bob@example.com", slug)
	if code, page := testhub.Follow(t, link); code != http.StatusOK || !strings.Contains(page, "Sign up with this e-mail address") {
		t.Fatalf("following bob's invitation: %d\n%s", code, page)
	}
	bob := newDev(t, h)
	bob.signup("bob")
	if got, want := alice.members(slug), []string{"alice:owner", "bob:member"}; !reflect.DeepEqual(got, want) {
		t.Errorf("members after bob signed up = %v, want %v", got, want)
	}
	bob.json(&orgs, "orgs", "ls", "--json")
	if len(orgs) != 1 || orgs[0].Slug != slug {
		t.Errorf("bob's orgs = %+v, want %s", orgs, slug)
	}

	// Someone who has an account joins as soon as the link is followed,
	// within the session they already have.
	carol := newDev(t, h)
	carol.signup("carol")
	link = alice.invite(mp, "carol@example.com", slug)
	if code, page := testhub.Follow(t, link); code != http.StatusOK || !strings.Contains(page, "You are now a member of Acme Inc.") {
		t.Fatalf("following carol's invitation: %d\n%s", code, page)
	}
	if code, _ := testhub.Follow(t, link); code != http.StatusNotFound {
		t.Errorf("following a used invitation again: %d, want 404", code)
	}
	var who whoamiJSON
	carol.json(&who, "whoami", "--json", "-o", slug)
	if who.Org == nil || who.Org.Slug != slug {
		t.Errorf("carol's whoami -o %s = %+v", slug, who)
	}
	if got, want := alice.members(slug), []string{"alice:owner", "bob:member", "carol:member"}; !reflect.DeepEqual(got, want) {
		t.Errorf("members after carol joined = %v, want %v", got, want)
	}

	// A member may not destroy the org, but may leave it; then the org is
	// closed to them.
	bob.refused(errors.Permission, "only the owner", withOrg(func(ctx context.Context, c *hubclient.Client) error {
		return c.RemoveOrg(ctx)
	}), "orgs", "destroy", "-o", slug, "--yes")
	if out := bob.ok("orgs", "leave", "-o", slug); out != "Left org "+slug+".\n" {
		t.Errorf("orgs leave printed %q", out)
	}
	bob.refused(errors.Permission, "not a member", getOrg, "orgs", "members", "-o", slug)
	bob.refused(errors.Permission, "not a member", withOrg(func(ctx context.Context, c *hubclient.Client) error {
		_, err := c.ListKeys(ctx)
		return err
	}), "keys", "ls", "-o", slug)
	bob.json(&orgs, "orgs", "ls", "--json")
	if len(orgs) != 0 {
		t.Errorf("bob's orgs after leaving = %+v", orgs)
	}

	// The owner can neither leave nor destroy their account while the org
	// exists.
	alice.refused(errors.FailedPrecondition, "owner cannot leave", withOrg(func(ctx context.Context, c *hubclient.Client) error {
		return c.LeaveOrg(ctx)
	}), "orgs", "leave", "-o", slug)
	alice.refused(errors.FailedPrecondition, slug, func(ctx context.Context, c *hubclient.Client) error {
		return c.DestroyAccount(ctx)
	}, "destroy", "--yes")

	if out := alice.ok("orgs", "destroy", "-o", slug, "--yes"); out != "Destroyed org "+slug+".\n" {
		t.Errorf("orgs destroy printed %q", out)
	}
	alice.refused(errors.NotExist, "not found", getOrg, "orgs", "members", "-o", slug)
	carol.json(&orgs, "orgs", "ls", "--json")
	if len(orgs) != 0 {
		t.Errorf("carol's orgs after the org was destroyed = %+v", orgs)
	}
	_, err = getToken(t, h, orgKeyCtx)
	errorstest.WantKind(t, err, errors.Unauthenticated, "API key not found")

	if out := alice.ok("destroy", "--yes"); out != "Destroyed account alice.\n" {
		t.Errorf("destroy printed %q", out)
	}
	alice.refused(errors.NotExist, "sign up first", func(ctx context.Context, c *hubclient.Client) error {
		_, err := c.Signin(ctx, "alice")
		return err
	}, "login", "alice")
}

func TestE2EVersion(t *testing.T) {
	h := testhub.Start(t, nil)
	bi, err := hubclient.New(h.Conn).BuildInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := newDev(t, h).ok("version")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || lines[0] != "client  "+clientVersion() {
		t.Fatalf("version printed %q", out)
	}
	server := lines[1]
	if !strings.HasPrefix(server, "server  "+bi.Version) || !strings.HasSuffix(server, " at "+h.Addrs.API) ||
		!strings.Contains(server, bi.GitCommit) || !strings.Contains(server, bi.BuildDate) {
		t.Errorf("server line %q does not show %+v at %s", server, bi, h.Addrs.API)
	}
}

// stoppable starts a hubd that the test stops itself, and returns its API
// address and the function that stops it.
func stoppable(t *testing.T) (string, func()) {
	t.Helper()
	d, err := daemon.Start(context.Background(), testhub.Config(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("stop hubd: %v", err)
		}
	}
	return d.Addrs().API, stop
}

// TestE2EServerDown checks that a hub that cannot be reached fails every
// command at once with a message naming the address.
func TestE2EServerDown(t *testing.T) {
	addr, stop := stoppable(t)
	alice := newDevAt(t, addr, nil)
	alice.signup("alice")
	stop()
	// The address comes from the stored config now.
	delete(alice.env, "HUB_API")

	cannotReach := "cannot reach hubd at " + addr + " ("
	// gRPC fails at once on a refused connection, as Unavailable with
	// gRPC's "connection error", which is what hub names an unreachable
	// hub; a hub that waited for the server instead would hang here, or
	// fail with a deadline, which hub reports in other words.
	for _, args := range [][]string{
		{"whoami"}, {"keys", "ls"}, {"keys", "create"}, {"orgs", "ls"}, {"orgs", "members", "-o", "acme"},
		{"login", "alice"}, {"version"}, {"destroy", "--yes"},
	} {
		msg := alice.errorLine(args...)
		if !strings.HasPrefix(msg, cannotReach) || !strings.HasSuffix(msg, "); check that it is running there, or point --api or HUB_API at it") {
			t.Errorf("hub %s: error %q, want %q…", strings.Join(args, " "), msg, cannotReach)
		}
	}
	// logout still forgets the session here, and says the hub did not
	// end it.
	if msg := alice.errorLine("logout"); !strings.HasPrefix(msg, "logged out here, but the hub did not end the session: "+cannotReach) {
		t.Errorf("logout: error %q", msg)
	}
	if c := alice.config(); c.Session != "" || c.API != addr {
		t.Errorf("config after logout = %+v, want no session", c)
	}
}

// TestE2EBinary runs the built hub as a subprocess, to check the wiring in
// cmd/hub: arguments, streams, environment and exit status.
func TestE2EBinary(t *testing.T) {
	bin := testhub.Build(t, "./cmd/hub")
	h := testhub.Start(t, nil)
	down, stop := stoppable(t)
	stop()
	home := t.TempDir()
	run := func(api string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		// Only these: the binary must not need anything else from the
		// environment. Stdin is left nil, which is /dev/null: no terminal.
		cmd.Env = []string{"HUB_HOME=" + home, "HUB_API=" + api}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	bi, err := hubclient.New(h.Conn).BuildInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if out, errs, code := run(h.Addrs.API, "version"); code != 0 || errs != "" ||
		!strings.Contains(out, "\nserver  "+bi.Version) || !strings.HasSuffix(out, " at "+h.Addrs.API+"\n") {
		t.Errorf("hub version: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out, errs, code := run(h.Addrs.API, "init"); code != 1 || out != "" || errs != "Error: --username is required when stdin is not a terminal\n" {
		t.Errorf("hub init: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out, errs, code := run(h.Addrs.API, "init", "--username", "alice", "--email", "alice@example.com"); code != 0 ||
		!strings.HasPrefix(out, "Signed up and logged in as alice <alice@example.com>.\nAccount key: b") {
		t.Fatalf("hub init: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if fi, err := os.Stat(filepath.Join(home, configName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config file: %v, %v; want mode 0600", fi, err)
	}

	out, errs, code := run(h.Addrs.API, "whoami", "--json")
	if code != 0 || !reflect.DeepEqual(decode(t, []byte(out)), map[string]any{"username": "alice", "email": "alice@example.com", "key": readKey(t, home)}) {
		t.Errorf("hub whoami --json: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out, errs, code = run(h.Addrs.API, "keys", "create", "--type", "user", "--json")
	if k, ok := decode(t, []byte(out)).(map[string]any); code != 0 || !ok || len(k) != 4 || k["type"] != "user" || k["secure"] != true {
		t.Errorf("hub keys create --json: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	// The server's refusal is the Error: line, with exit status 1.
	_, taken := hubclient.New(h.Conn).Signup(context.Background(), "alice", "other@example.com")
	if !errors.Is(errors.Exist, taken) {
		t.Fatalf("second sign-up as alice: %v, want Exist", taken)
	}
	if out, errs, code := run(h.Addrs.API, "init", "--username", "alice", "--email", "other@example.com"); code != 1 ||
		!strings.HasSuffix(errs, "\nError: "+errors.Message(taken)+"\n") || out != "" {
		t.Errorf("hub init as alice again: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, errs, code := run(down, "whoami"); code != 1 || !strings.HasPrefix(errs, "Error: cannot reach hubd at "+down+" (") {
		t.Errorf("hub whoami with hubd down: exit %d, stderr %q", code, errs)
	}
	if _, errs, code := run(h.Addrs.API, "nosuchcommand"); code != 1 || !strings.HasPrefix(errs, `Error: unknown command "nosuchcommand"`) {
		t.Errorf("hub nosuchcommand: exit %d, stderr %q", code, errs)
	}
}

// readKey returns the account key stored in the config in home.
func readKey(t *testing.T, home string) string {
	t.Helper()
	c, err := readConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	return string(c.Key)
}
