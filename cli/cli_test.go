package cli

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/test/testhub"
)

// dev is one developer at a terminal: the hub command run in-process, with
// its own HUB_HOME, against a real hubd. Several devs may share one hubd.
type dev struct {
	t    *testing.T
	api  string            // the hubd address in HUB_API
	hc   *hubclient.Client // a client of that hubd, to check hub against; nil if down
	home string
	env  map[string]string // the whole environment hub sees
}

// newDev returns a developer whose HUB_API points at h.
func newDev(t *testing.T, h *testhub.Hub) *dev {
	return newDevAt(t, h.Addrs.API, hubclient.New(h.Conn))
}

func newDevAt(t *testing.T, api string, hc *hubclient.Client) *dev {
	d := &dev{t: t, api: api, hc: hc, home: t.TempDir()}
	d.env = map[string]string{"HUB_HOME": d.home, "HUB_API": api}
	return d
}

// run runs hub with args; a nil stdin is no terminal, so hub never prompts.
func (d *dev) run(stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	d.t.Helper()
	var out, errb strings.Builder
	code = Run(args, stdin, &out, &errb, func(k string) string { return d.env[k] })
	return out.String(), errb.String(), code
}

// ok runs hub and fails the test unless it succeeds; it returns stdout.
func (d *dev) ok(args ...string) string {
	d.t.Helper()
	out, errs, code := d.run(nil, args...)
	if code != 0 {
		d.t.Fatalf("hub %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// errorLine runs hub, which must exit 1 with its last stderr line
// "Error: <message>" (progress notes may come before it), and returns the
// message.
func (d *dev) errorLine(args ...string) string {
	d.t.Helper()
	out, errs, code := d.run(nil, args...)
	lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
	last := lines[len(lines)-1]
	if code != 1 || !strings.HasSuffix(errs, "\n") || !strings.HasPrefix(last, "Error: ") {
		d.t.Fatalf("hub %s: exit %d, stderr %q; want exit 1 and an Error: line\nstdout: %s", strings.Join(args, " "), code, errs, out)
	}
	return strings.TrimPrefix(last, "Error: ")
}

// fails runs hub and checks that it fails with exactly the message want:
// for refusals hub makes itself, without asking the server.
func (d *dev) fails(want string, args ...string) {
	d.t.Helper()
	if got := d.errorLine(args...); got != want {
		d.t.Fatalf("hub %s: error %q, want %q", strings.Join(args, " "), got, want)
	}
}

// refused runs hub, which must fail, then makes the same call with the Go
// client and the developer's session: the server must refuse it with kind
// and a message containing hint, and hub must have printed exactly that
// message. The call runs only once hub has failed, so a call that the
// server wrongly allows is never made twice.
func (d *dev) refused(kind errors.Kind, hint string, call func(context.Context, *hubclient.Client) error, args ...string) {
	d.t.Helper()
	got := d.errorLine(args...)
	err := call(d.ctx(), d.hc)
	if !errors.Is(kind, err) {
		d.t.Fatalf("hub %s: the server answered the same call with %v (kind %v), want kind %v", strings.Join(args, " "), err, errors.KindOf(err), kind)
	}
	if want := errors.Message(err); got != want || !strings.Contains(want, hint) {
		d.t.Fatalf("hub %s: error %q; want the server's message %q, containing %q", strings.Join(args, " "), got, want, hint)
	}
}

// json runs hub and decodes its stdout into v.
func (d *dev) json(v any, args ...string) {
	d.t.Helper()
	out := d.ok(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		d.t.Fatalf("hub %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// config reads the developer's stored config.
func (d *dev) config() config {
	d.t.Helper()
	c, err := readConfig(d.home)
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

// ctx returns a context carrying the session hub would send: HUB_SESSION,
// else the stored one, else none.
func (d *dev) ctx() context.Context {
	d.t.Helper()
	s := d.env["HUB_SESSION"]
	if s == "" {
		s = d.config().Session
	}
	if s == "" {
		return context.Background()
	}
	return client.WithSession(context.Background(), s)
}

// signup runs hub init for NAME with NAME@example.com.
func (d *dev) signup(name string) {
	d.t.Helper()
	d.ok("init", "--username", name, "--email", name+"@example.com")
}

func TestInitPrompts(t *testing.T) {
	h := testhub.Start(t, nil)
	newDev(t, h).signup("taken")
	alice := newDev(t, h)

	// A taken name and an invalid one are refused at once, with the
	// server's reason, and asked again; an empty answer is asked again.
	out, errs, code := alice.run(strings.NewReader("taken\na\n\nalice\nalice@example.com\n"), "init")
	if code != 0 {
		t.Fatalf("init: exit %d\nstderr: %s", code, errs)
	}
	for _, want := range []string{"Choose a username: ", `username "taken" is taken; choose another` + "\n", `username "a" must be 3 to 32 characters long` + "\n", "Email address: "} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if n := strings.Count(errs, "Choose a username: "); n != 4 {
		t.Errorf("asked for a username %d times, want 4:\n%s", n, errs)
	}
	cfg := alice.config()
	info, err := alice.hc.SessionInfo(alice.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if want := (config{API: h.Addrs.API, Session: cfg.Session, Username: "alice", Email: "alice@example.com", Key: info.Key}); cfg != want || cfg.Session == "" {
		t.Errorf("config after init = %+v, want %+v with a session", cfg, want)
	}
	if want := "Signed up and logged in as alice <alice@example.com>.\nAccount key: " + string(info.Key) + "\n"; out != want {
		t.Errorf("stdout = %q, want %q", out, want)
	}

	bob := newDev(t, h)
	bob.fails("--username is required when stdin is not a terminal", "init", "--email", "bob@example.com")
	bob.fails("--email is required when stdin is not a terminal", "init", "--username", "bob")
	if _, errs, code := bob.run(strings.NewReader(""), "init"); code != 1 || !strings.HasSuffix(errs, "Error: no answer given\n") {
		t.Errorf("init with empty stdin: exit %d, stderr %q", code, errs)
	}
	if _, errs, code := bob.run(strings.NewReader("bob\n"), "login"); code != 1 || !strings.Contains(errs, "Username or email: ") {
		t.Errorf("login answering bob (unknown): exit %d, stderr %q", code, errs)
	}
	bob.fails("a USERNAME_OR_EMAIL argument is required when stdin is not a terminal", "login")
}

// TestConfirmations checks that destructive commands ask first, and that
// only yes goes ahead.
func TestConfirmations(t *testing.T) {
	h := testhub.Start(t, nil)
	alice := newDev(t, h)
	alice.signup("alice")
	alice.ok("orgs", "create", "Acme Inc")

	alice.fails("refusing without confirmation; pass --yes when stdin is not a terminal", "orgs", "destroy", "-o", "acme-inc")
	if _, errs, code := alice.run(strings.NewReader("n\n"), "orgs", "destroy", "-o", "acme-inc"); code != 1 || !strings.HasSuffix(errs, "Error: aborted\n") {
		t.Errorf("orgs destroy answered no: exit %d, stderr %q", code, errs)
	}
	alice.ok("orgs", "members", "-o", "acme-inc") // still there
	if out, errs, code := alice.run(strings.NewReader("yes\n"), "orgs", "destroy", "-o", "acme-inc"); code != 0 || out != "Destroyed org acme-inc.\n" ||
		!strings.Contains(errs, "Destroy org acme-inc and everything it owns? This cannot be undone. [y/N]: ") {
		t.Errorf("orgs destroy answered yes: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	alice.fails("refusing without confirmation; pass --yes when stdin is not a terminal", "destroy")
	if out, errs, code := alice.run(strings.NewReader("\n"), "destroy"); code != 1 || out != "" || !strings.HasSuffix(errs, "Error: aborted\n") {
		t.Errorf("destroy answered nothing: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	alice.ok("whoami") // still there
	if out, errs, code := alice.run(strings.NewReader("y\n"), "destroy"); code != 0 || out != "Destroyed account alice.\n" {
		t.Fatalf("destroy answered y: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if c := alice.config(); c != (config{API: h.Addrs.API}) {
		t.Errorf("config after destroy = %+v, want only the API address", c)
	}
}

// TestSettings checks where hub takes its address, session, org and
// flags from.
func TestSettings(t *testing.T) {
	h := testhub.Start(t, nil)
	other := testhub.Start(t, nil) // a second hub that knows no one
	alice := newDev(t, h)
	alice.signup("alice")

	// The address used at sign-up sticks without HUB_API or --api.
	delete(alice.env, "HUB_API")
	alice.ok("whoami")
	// An explicit --api or HUB_API beats it: the other hub does not know
	// the session.
	alice.fails("session not found; sign in again (hub login)", "whoami", "--api", other.Addrs.API)
	alice.env["HUB_API"] = other.Addrs.API
	alice.fails("session not found; sign in again (hub login)", "whoami")
	alice.env["HUB_API"] = h.Addrs.API

	// HUB_SESSION overrides the stored session.
	alice.env["HUB_SESSION"] = "bogus"
	alice.fails("session not found; sign in again (hub login)", "whoami")
	delete(alice.env, "HUB_SESSION")

	// -o on orgs create is not sent: the org does not exist yet.
	alice.ok("orgs", "create", "Acme Inc", "-o", "no-such-org")

	// HUB_ORG is -o: keys made with it belong to the org.
	alice.env["HUB_ORG"] = "acme-inc"
	alice.ok("keys", "create")
	delete(alice.env, "HUB_ORG")
	var keys []any
	alice.json(&keys, "keys", "ls", "--json")
	if len(keys) != 0 {
		t.Errorf("developer keys = %v, want none", keys)
	}
	alice.json(&keys, "keys", "ls", "--json", "-o", "acme-inc")
	if len(keys) != 1 {
		t.Errorf("org keys = %v, want one", keys)
	}

	// Every flag has a HUB_ variable.
	alice.env["HUB_JSON"] = "true"
	var who whoamiJSON
	alice.json(&who, "whoami")
	if who.Username != "alice" {
		t.Errorf("whoami with HUB_JSON = %+v", who)
	}
	alice.env["HUB_JSON"] = "maybe"
	alice.fails(`HUB_JSON="maybe": invalid argument "maybe" for "--json" flag: must be true or false`, "whoami")
	delete(alice.env, "HUB_JSON")

	alice.fails(`--type is "group"; use account or user`, "keys", "create", "--type", "group")
	alice.fails("this command acts on an org; pass -o ORG or set HUB_ORG", "orgs", "members")
	alice.fails("this command acts on an org; pass -o ORG or set HUB_ORG", "orgs", "leave")
}

// TestTables checks the output for people, and that empty lists say how
// to fill them.
func TestTables(t *testing.T) {
	h := testhub.Start(t, nil)
	alice := newDev(t, h)
	alice.signup("alice")
	key := string(alice.config().Key)

	if out, errs, code := alice.run(nil, "keys", "ls"); code != 0 || out != "" || errs != "No API keys; create one with hub keys create.\n" {
		t.Errorf("keys ls with no keys: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out := alice.ok("keys", "ls", "--json"); out != "[]\n" {
		t.Errorf("keys ls --json with no keys = %q, want []", out)
	}
	if out, errs, code := alice.run(nil, "orgs", "ls"); code != 0 || out != "" || errs != "No organizations; create one with hub orgs create.\n" {
		t.Errorf("orgs ls with no orgs: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out := alice.ok("orgs", "ls", "--json"); out != "[]\n" {
		t.Errorf("orgs ls --json with no orgs = %q, want []", out)
	}

	// The defaults make a secure account key.
	out := alice.ok("keys", "create")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "KEY SECRET TYPE SECURE" {
		t.Fatalf("keys create printed:\n%s", out)
	}
	row := strings.Fields(lines[1])
	if len(row) != 4 || row[2] != "account" || row[3] != "true" {
		t.Fatalf("keys create row = %q, want KEY SECRET account true", row)
	}
	out = alice.ok("keys", "ls")
	if want := []string{"KEY SECRET TYPE SECURE VALID", row[0] + " " + row[1] + " account true true"}; !sameRows(out, want) {
		t.Errorf("keys ls printed:\n%s\nwant rows %q", out, want)
	}

	out = alice.ok("orgs", "create", "Acme Inc")
	org, err := alice.hc.GetOrg(client.WithOrg(alice.ctx(), "acme-inc"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "Created org Acme Inc; use it with -o acme-inc.\nOrg key: " + string(org.Key) + "\n"; out != want {
		t.Errorf("orgs create printed %q, want %q", out, want)
	}
	out = alice.ok("orgs", "ls")
	if want := []string{"SLUG NAME MEMBERS CREATED KEY", "acme-inc Acme Inc 1 " + date(org.CreatedAt) + " " + string(org.Key)}; !sameRows(out, want) {
		t.Errorf("orgs ls printed:\n%s\nwant rows %q", out, want)
	}
	out = alice.ok("orgs", "members", "-o", "acme-inc")
	if want := []string{"USERNAME ROLE KEY", "alice owner " + key}; !sameRows(out, want) {
		t.Errorf("orgs members printed:\n%s\nwant rows %q", out, want)
	}
	out = alice.ok("whoami", "-o", "acme-inc")
	want := []string{"username alice", "email alice@example.com", "key " + key,
		"org acme-inc (Acme Inc)", "org key " + string(org.Key), "role owner"}
	if !sameRows(out, want) {
		t.Errorf("whoami -o printed:\n%s\nwant rows %q", out, want)
	}
}

// sameRows reports whether a table's lines are want, comparing the
// whitespace-separated fields of each line.
func sameRows(table string, want []string) bool {
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) != len(want) {
		return false
	}
	for i, l := range lines {
		if strings.Join(strings.Fields(l), " ") != want[i] {
			return false
		}
	}
	return true
}
