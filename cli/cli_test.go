package cli

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// harness runs the CLI in-process against a fake hub, with its own
// HUB_HOME.
type harness struct {
	t    *testing.T
	hub  *fakeHub
	addr string
	home string
	env  map[string]string
}

func newHarness(t *testing.T) *harness {
	f, addr := newFakeHub(t)
	h := &harness{t: t, hub: f, addr: addr, home: t.TempDir()}
	h.env = map[string]string{"HUB_HOME": h.home, "HUB_API": addr}
	return h
}

// run runs hub with args; stdin nil means no terminal.
func (h *harness) run(stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	var out, errb strings.Builder
	code = Run(args, stdin, &out, &errb, func(k string) string { return h.env[k] })
	return out.String(), errb.String(), code
}

// ok runs hub and fails the test unless it succeeds.
func (h *harness) ok(args ...string) string {
	h.t.Helper()
	out, errs, code := h.run(nil, args...)
	if code != 0 {
		h.t.Fatalf("hub %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs hub and fails the test unless it exits 1 and its stderr ends
// with the line "Error: want" (progress notes may come before it).
func (h *harness) fails(want string, args ...string) {
	h.t.Helper()
	out, errs, code := h.run(nil, args...)
	if code != 1 || !strings.HasSuffix("\n"+errs, "\nError: "+want+"\n") {
		h.t.Fatalf("hub %s: exit %d, stderr %q; want exit 1, stderr %q\nstdout: %s",
			strings.Join(args, " "), code, errs, "Error: "+want+"\n", out)
	}
}

func (h *harness) config() config {
	h.t.Helper()
	c, err := readConfig(h.home)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) json(v any, args ...string) {
	h.t.Helper()
	out := h.ok(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		h.t.Fatalf("hub %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestAccountLifecycle(t *testing.T) {
	h := newHarness(t)
	h.fails("not logged in; run hub login (or hub init to sign up)", "whoami")

	h.ok("init", "--username", "alice", "--email", "alice@example.com")
	cfg := h.config()
	if cfg.Session == "" || cfg.Username != "alice" || cfg.Email != "alice@example.com" || cfg.Key == "" || cfg.API != h.addr {
		t.Fatalf("config after init = %+v", cfg)
	}

	var who whoamiJSON
	h.json(&who, "whoami", "--json")
	if who.Username != "alice" || who.Email != "alice@example.com" || who.Key != string(cfg.Key) {
		t.Errorf("whoami = %+v, want alice with key %s", who, cfg.Key)
	}
	if c := h.hub.lastCall("GetSessionInfo"); c.session != cfg.Session {
		t.Errorf("whoami sent session %q, want %q", c.session, cfg.Session)
	}

	h.ok("logout")
	if h.config().Session != "" {
		t.Error("logout left the session in the config")
	}
	h.fails("not logged in; run hub login (or hub init to sign up)", "keys", "ls")
	if out := h.ok("logout"); out != "Not logged in.\n" {
		t.Errorf("second logout printed %q", out)
	}

	h.ok("login", "alice@example.com")
	if c := h.config(); c.Session == "" || c.Session == cfg.Session || c.Username != "alice" {
		t.Errorf("config after login = %+v, want a new session for alice", c)
	}
	h.fails("no account nobody", "login", "nobody")

	h.fails("refusing without confirmation; pass --yes when stdin is not a terminal", "destroy")
	if out, _, code := h.run(strings.NewReader("n\n"), "destroy"); code != 1 || out != "" {
		t.Errorf("destroy answered no: exit %d, stdout %q", code, out)
	}
	if _, errs, code := h.run(strings.NewReader("y\n"), "destroy"); code != 0 {
		t.Fatalf("destroy answered yes: exit %d, stderr %q", code, errs)
	}
	if c := h.config(); c != (config{API: h.addr}) {
		t.Errorf("config after destroy = %+v, want only the API address", c)
	}
	h.fails("no account alice", "login", "alice")
}

func TestInitPrompts(t *testing.T) {
	h := newHarness(t)
	h.ok("init", "--username", "taken", "--email", "t@example.com")
	os.Remove(filepath.Join(h.home, configName))

	out, errs, code := h.run(strings.NewReader("taken\n\nalice\nalice@example.com\n"), "init")
	if code != 0 {
		t.Fatalf("init: exit %d\nstderr: %s", code, errs)
	}
	for _, want := range []string{"Choose a username: ", "username taken is taken\n", "Email address: "} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if !strings.HasPrefix(out, "Signed up and logged in as alice <alice@example.com>.") {
		t.Errorf("stdout = %q", out)
	}

	h.fails("--username is required when stdin is not a terminal", "init", "--email", "x@example.com")
	h.fails("--email is required when stdin is not a terminal", "init", "--username", "bob")
	if _, errs, code := h.run(strings.NewReader(""), "init"); code != 1 || !strings.HasSuffix(errs, "Error: no answer given\n") {
		t.Errorf("init with empty stdin: exit %d, stderr %q", code, errs)
	}
}

func TestKeys(t *testing.T) {
	h := newHarness(t)
	h.ok("init", "--username", "alice", "--email", "alice@example.com")

	var created map[string]any
	h.json(&created, "keys", "create", "--type", "user", "--secure=false", "--json")
	if len(created) != 4 || created["type"] != "user" || created["secure"] != false || created["key"] == "" || created["secret"] == "" {
		t.Fatalf("keys create --json = %v, want exactly key, secret, type user, secure false", created)
	}
	key := created["key"].(string)
	h.ok("keys", "create")
	h.fails(`--type is "group"; use account or user`, "keys", "create", "--type", "group")

	var list []map[string]any
	h.json(&list, "keys", "ls", "--json")
	if len(list) != 2 || list[0]["key"] != key || list[0]["valid"] != true || list[1]["type"] != "account" || list[1]["secure"] != true {
		t.Fatalf("keys ls --json = %v", list)
	}
	if out := h.ok("keys", "ls"); !strings.HasPrefix(out, "KEY ") || strings.Count(out, "\n") != 3 {
		t.Errorf("keys ls table:\n%s", out)
	}

	h.ok("keys", "invalidate", key)
	h.json(&list, "keys", "ls", "--json")
	if list[0]["valid"] != false {
		t.Errorf("after invalidate, keys ls --json = %v", list)
	}
	h.fails("key bnope not found", "keys", "invalidate", "bnope")
}

func TestOrgs(t *testing.T) {
	h := newHarness(t)
	h.ok("init", "--username", "alice", "--email", "alice@example.com")
	var none []any
	h.json(&none, "orgs", "ls", "--json")
	if none == nil || len(none) != 0 {
		t.Errorf("orgs ls --json with no orgs = %v, want []", none)
	}

	// -o on create is ignored: the org does not exist yet.
	h.ok("orgs", "create", "Acme Inc", "-o", "other")
	if c := h.hub.lastCall("CreateOrg"); c.org != "" {
		t.Errorf("orgs create sent org %q, want none", c.org)
	}
	var orgs []orgJSON
	h.json(&orgs, "orgs", "ls", "--json")
	if len(orgs) != 1 || orgs[0].Slug != "acme-inc" || orgs[0].Name != "Acme Inc" || orgs[0].CreatedAt != "2030-01-02T00:00:00Z" {
		t.Fatalf("orgs ls --json = %+v", orgs)
	}

	h.fails("this command acts on an org; pass -o ORG or set HUB_ORG", "orgs", "members")
	var members []memberJSON
	h.json(&members, "orgs", "members", "-o", "acme-inc", "--json")
	cfg := h.config()
	if want := []memberJSON{{Key: string(cfg.Key), Username: "alice", Role: "owner"}}; !reflect.DeepEqual(members, want) {
		t.Errorf("orgs members --json = %+v, want %+v", members, want)
	}
	h.fails("org nope not found", "orgs", "members", "-o", "nope")

	// Keys made with -o (or HUB_ORG) belong to the org, not the developer.
	h.env["HUB_ORG"] = "acme-inc"
	h.ok("keys", "create")
	if c := h.hub.lastCall("CreateKey"); c.org != "acme-inc" || c.session != cfg.Session {
		t.Errorf("keys create with HUB_ORG sent %+v", c)
	}
	delete(h.env, "HUB_ORG")
	var keys []any
	h.json(&keys, "keys", "ls", "--json")
	if len(keys) != 0 {
		t.Errorf("developer keys = %v, want none", keys)
	}
	h.json(&keys, "keys", "ls", "--json", "-o", "acme-inc")
	if len(keys) != 1 {
		t.Errorf("org keys = %v, want one", keys)
	}

	var who whoamiJSON
	h.json(&who, "whoami", "--json", "-o", "acme-inc")
	if who.Org == nil || who.Org.Slug != "acme-inc" {
		t.Errorf("whoami -o = %+v", who)
	}
	if out := h.ok("whoami", "-o", "acme-inc"); !strings.Contains(out, "role      owner\n") {
		t.Errorf("whoami -o table lacks the role:\n%s", out)
	}

	if out := h.ok("orgs", "invite", "bob@example.com", "-o", "acme-inc"); !strings.Contains(out, "invite-bob@example.com") {
		t.Errorf("orgs invite printed %q, want the token", out)
	}
	h.fails("refusing without confirmation; pass --yes when stdin is not a terminal", "orgs", "destroy", "-o", "acme-inc")
	h.ok("orgs", "destroy", "-o", "acme-inc", "--yes")
	h.json(&orgs, "orgs", "ls", "--json")
	if len(orgs) != 0 {
		t.Errorf("orgs after destroy = %+v", orgs)
	}
	// The fake does not offer LeaveOrg; the server's message comes through.
	h.fails("method LeaveOrg not implemented", "orgs", "leave", "-o", "x")
}

func TestSettings(t *testing.T) {
	h := newHarness(t)
	h.ok("init", "--username", "alice", "--email", "alice@example.com")

	// The address used at login sticks without HUB_API or --api.
	delete(h.env, "HUB_API")
	h.ok("whoami")
	// An explicit --api beats the stored one.
	h.fails("cannot reach hubd at 127.0.0.1:1 (connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\"); check that it is running there, or point --api or HUB_API at it",
		"whoami", "--api", "127.0.0.1:1")

	// HUB_SESSION overrides the stored session.
	h.env["HUB_SESSION"] = "bogus"
	h.fails("session required", "whoami")
	delete(h.env, "HUB_SESSION")

	// Every flag has a HUB_ variable.
	h.env["HUB_JSON"] = "true"
	var who whoamiJSON
	h.json(&who, "whoami")
	h.env["HUB_JSON"] = "maybe"
	h.fails(`HUB_JSON="maybe": invalid argument "maybe" for "--json" flag: must be true or false`, "whoami")
	delete(h.env, "HUB_JSON")

	if out := h.ok("version"); !strings.HasPrefix(out, "client  ") || !strings.Contains(out, "server  v9.9.9 (c0ffee) at "+h.addr) {
		t.Errorf("version printed %q", out)
	}
}

// TestBinary runs the built hub as a subprocess, to check the wiring in
// cmd/hub: arguments, streams, environment and exit status.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hub binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	bin := filepath.Join(t.TempDir(), "hub")
	if out, err := exec.Command(gobin, "build", "-o", bin, "../cmd/hub").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	_, addr := newFakeHub(t)
	home := t.TempDir()
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"HUB_HOME=" + home, "HUB_API=" + addr}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if out, errs, code := run("version"); code != 0 || !strings.Contains(out, "v9.9.9") {
		t.Errorf("hub version: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// Stdin is /dev/null here: not a terminal, so no prompt.
	if _, errs, code := run("init"); code != 1 || errs != "Error: --username is required when stdin is not a terminal\n" {
		t.Errorf("hub init: exit %d, stderr %q", code, errs)
	}
	if out, errs, code := run("init", "--username", "alice", "--email", "a@example.com"); code != 0 {
		t.Fatalf("hub init: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if fi, err := os.Stat(filepath.Join(home, configName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("config file: %v, %v; want mode 0600", fi, err)
	}
	if out, _, code := run("keys", "create", "--json"); code != 0 || !strings.Contains(out, `"type": "account"`) {
		t.Errorf("hub keys create --json: exit %d, stdout %q", code, out)
	}
}
