package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	usersclient "github.com/selfhub/hub/client/users"
	"github.com/selfhub/hub/daemon"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

// mailUser is an app user running hub mail: a dev (for its HUB_HOME and
// environment) with the app's user group key in HUB_KEY and HUB_SECRET.
type mailUser struct {
	*dev
	h   *testhub.Hub
	key hub.APIKey
	pub string // set by setup
}

func newMailUser(t *testing.T, h *testhub.Hub, key hub.APIKey) *mailUser {
	u := &mailUser{dev: newDev(t, h), h: h, key: key}
	u.env["HUB_KEY"], u.env["HUB_SECRET"] = key.Key, key.Secret
	return u
}

// setup runs hub mail setup --json with args and records the identity.
func (u *mailUser) setup(args ...string) (mailbox string) {
	u.t.Helper()
	var got struct{ Identity, Mailbox string }
	u.json(&got, append([]string{"mail", "setup", "--json"}, args...)...)
	if _, err := identity.Parse(hub.PubKey(got.Identity)); err != nil || got.Mailbox == "" {
		u.t.Fatalf("mail setup printed %+v (%v)", got, err)
	}
	u.pub = got.Identity
	return got.Mailbox
}

// identity reads the private key from the file hub uses.
func (u *mailUser) identity(file string) crypto.PrivKey {
	u.t.Helper()
	if file == "" {
		file = filepath.Join(u.home, identityName)
	}
	priv, err := loadIdentity(file)
	if err != nil {
		u.t.Fatal(err)
	}
	return priv
}

// goCtx returns a context for the Go clients acting as priv through the
// user's key, with a token of its own (not hub's cached one).
func (u *mailUser) goCtx(priv crypto.PrivKey) context.Context {
	u.t.Helper()
	ctx := testhub.WithKey(u.t, u.key)
	tok, err := threadsclient.New(u.h.Conn).GetToken(ctx, priv)
	if err != nil {
		u.t.Fatal(err)
	}
	return client.WithToken(ctx, tok)
}

// mailRefused runs hub, which must fail, then makes the same call with the
// Go client: the server must refuse it with kind and a message containing
// hint, and hub must have printed exactly that message.
func (u *mailUser) mailRefused(kind errors.Kind, hint string, call func() error, args ...string) {
	u.t.Helper()
	got := u.errorLine(args...)
	err := call()
	if !errors.Is(kind, err) {
		u.t.Fatalf("hub %s: the server answered the same call with %v (kind %v), want kind %v", strings.Join(args, " "), err, errors.KindOf(err), kind)
	}
	if want := errors.Message(err); got != want || !strings.Contains(want, hint) {
		u.t.Fatalf("hub %s: error %q; want the server's message %q, containing %q", strings.Join(args, " "), got, want, hint)
	}
}

// lsJSON runs hub mail ls --json with args.
func (u *mailUser) lsJSON(args ...string) []messageJSON {
	u.t.Helper()
	var out []messageJSON
	u.json(&out, append([]string{"mail", "ls", "--json"}, args...)...)
	return out
}

// lockedBuffer is an io.Writer that a running command and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder // guarded by mu
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// watched returns the messages a hub mail watch --json printed so far.
func watched(t *testing.T, out string) []messageJSON {
	t.Helper()
	var ms []messageJSON
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m messageJSON
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("watch printed a line that is not JSON: %q (%v)", sc.Text(), err)
		}
		ms = append(ms, m)
	}
	return ms
}

func TestE2EMail(t *testing.T) {
	const maxSize = 4096
	h := testhub.Start(t, func(c *daemon.Config) { c.MailMaxMessageSize = maxSize })
	devl := newDev(t, h)
	devl.signup("maildev")
	key, err := devl.hc.CreateKey(devl.ctx(), hub.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	uc := usersclient.New(h.Conn)

	alice, bob := newMailUser(t, h, key), newMailUser(t, h, key)

	// Without a key nothing happens, not even a new identity.
	delete(alice.env, "HUB_KEY")
	alice.fails("hub mail acts through an app's user group key; pass --key and --secret, or set HUB_KEY and HUB_SECRET", "mail", "setup", "--new-identity")
	if _, err := os.Stat(filepath.Join(alice.home, identityName)); !os.IsNotExist(err) {
		t.Fatalf("a refused setup left an identity file behind (%v)", err)
	}
	alice.fails("no identity in "+filepath.Join(alice.home, identityName)+"; make one with hub mail setup --new-identity, or point --identity at yours",
		"mail", "ls", "inbox", "--key", key.Key, "--secret", key.Secret)
	alice.env["HUB_KEY"] = key.Key

	// setup --new-identity writes a private identity file (HUB_HOME's by
	// default) and makes the mailbox; setup again finds it.
	boxA := alice.setup("--new-identity")
	idFile := filepath.Join(alice.home, identityName)
	if fi, err := os.Stat(idFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, %v; want mode 0600", fi, err)
	}
	alicePriv := alice.identity("")
	if pub, _ := identity.String(alicePriv.GetPublic()); string(pub) != alice.pub {
		t.Fatalf("setup printed identity %s; the file holds %s", alice.pub, pub)
	}
	if again := alice.setup(); again != boxA {
		t.Errorf("second setup: mailbox %s, want %s", again, boxA)
	}
	if th, err := uc.GetThread(alice.goCtx(alicePriv), "hubmail"); err != nil || th.ID.String() != boxA {
		t.Errorf("the server's hubmail for alice: %+v, %v; want %s", th, err, boxA)
	}
	alice.fails(idFile+" already holds an identity; drop --new-identity to use it, or name another file with --identity", "mail", "setup", "--new-identity")
	if out := alice.ok("mail", "setup"); out != "identity "+alice.pub+"\nmailbox  "+boxA+"\n" {
		t.Errorf("mail setup printed %q", out)
	}

	// Bob keeps his identity elsewhere, and passes the key as flags.
	delete(bob.env, "HUB_KEY")
	delete(bob.env, "HUB_SECRET")
	bobFile := filepath.Join(t.TempDir(), "bob.key")
	bob.setup("--new-identity", "--identity", bobFile, "--key", key.Key, "--secret", key.Secret)
	bob.env["HUB_KEY"], bob.env["HUB_SECRET"], bob.env["HUB_IDENTITY"] = key.Key, key.Secret, bobFile
	bobPriv := bob.identity(bobFile)

	// The token is cached per identity, privately.
	tokens, _ := filepath.Glob(filepath.Join(alice.home, tokensDir, "*.json"))
	if len(tokens) != 1 {
		t.Fatalf("alice's cached tokens: %v", tokens)
	}
	if fi, err := os.Stat(tokens[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, %v; want mode 0600", fi, err)
	}

	// send from a file, from stdin, and from - (stdin).
	file := filepath.Join(t.TempDir(), "note.txt")
	if err := os.WriteFile(file, []byte("first, from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	send := func(stdin string, args ...string) string {
		t.Helper()
		out, errs, code := alice.run(strings.NewReader(stdin), append([]string{"mail", "send", bob.pub}, args...)...)
		id := strings.TrimSuffix(out, "\n")
		if code != 0 || id == "" || strings.Contains(id, "\n") {
			t.Fatalf("mail send %v: exit %d, stdout %q, stderr %q", args, code, out, errs)
		}
		return id
	}
	m1 := send("", file)
	m2 := send("second, from stdin")
	m3 := send("third, from -", "-")

	// ls --json lists newest first, with the decrypted bodies.
	in := bob.lsJSON("inbox")
	if len(in) != 3 || in[0].ID != m3 || in[1].ID != m2 || in[2].ID != m1 {
		t.Fatalf("bob's inbox: %+v; want %s %s %s", in, m3, m2, m1)
	}
	for i, want := range []string{"third, from -", "second, from stdin", "first, from a file\n"} {
		if m := in[i]; m.Body != want || m.From != alice.pub || m.To != bob.pub || m.ReadAt != "" || m.Error != "" {
			t.Errorf("inbox message %d: %+v; want body %q from %s", i, m, want, alice.pub)
		}
	}
	server, err := uc.ListInboxMessages(bob.goCtx(bobPriv), usersclient.ListOptions{})
	if err != nil || len(server) != 3 || nsTime(server[0].CreatedAt) != in[0].CreatedAt {
		t.Errorf("the server's inbox: %+v, %v", server, err)
	}
	if got := bob.lsJSON("inbox", "--limit", "2"); len(got) != 2 || got[0].ID != m3 || got[1].ID != m2 {
		t.Errorf("ls --limit 2: %+v", got)
	}

	// read prints the body as sent and marks the message read.
	if out := bob.ok("mail", "read", m1); out != "first, from a file\n" {
		t.Errorf("mail read printed %q", out)
	}
	unread := bob.lsJSON("inbox", "--unread")
	if len(unread) != 2 || unread[0].ID != m3 || unread[1].ID != m2 {
		t.Errorf("ls inbox --unread after reading %s: %+v", m1, unread)
	}
	in = bob.lsJSON("inbox")
	if in[2].ID != m1 || in[2].ReadAt == "" || in[0].ReadAt != "" {
		t.Errorf("inbox after read: %+v", in)
	}
	table := bob.ok("mail", "ls", "inbox")
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "ID FROM SENT READ" ||
		!strings.HasPrefix(lines[1], m3+"  "+alice.pub) || !strings.HasSuffix(lines[1], "false") || !strings.HasSuffix(lines[3], "true") {
		t.Errorf("mail ls inbox printed\n%s", table)
	}

	// Alice's sentbox holds her own copies, which she can open.
	out := alice.lsJSON("sentbox")
	if len(out) != 3 || out[0].ID != m3 || out[0].Body != "third, from -" || out[0].To != bob.pub {
		t.Errorf("alice's sentbox: %+v", out)
	}
	alice.fails("a sentbox has no read status; --unread applies to the inbox", "mail", "ls", "sentbox", "--unread")
	alice.fails(`"outbox" is not a box; use inbox or sentbox`, "mail", "ls", "outbox")

	// rm deletes one copy; the other party's stays.
	if got := bob.ok("mail", "rm", "inbox", m1); got != "Deleted message "+m1+" from your inbox.\n" {
		t.Errorf("mail rm printed %q", got)
	}
	if in := bob.lsJSON("inbox"); len(in) != 2 {
		t.Errorf("bob's inbox after rm: %+v", in)
	}
	if out := alice.lsJSON("sentbox"); len(out) != 3 {
		t.Errorf("alice's sentbox after bob's rm: %d messages, want 3", len(out))
	}
	bob.mailRefused(errors.NotExist, "not found in your inbox", func() error {
		return uc.DeleteInboxMessage(bob.goCtx(bobPriv), m1)
	}, "mail", "rm", "inbox", m1)
	bob.mailRefused(errors.NotExist, "not found in your inbox", func() error {
		_, err := uc.ReadInboxMessage(bob.goCtx(bobPriv), m1)
		return err
	}, "mail", "read", m1)
	alice.ok("mail", "rm", "sentbox", m1)
	if out := alice.lsJSON("sentbox", "--limit", "0"); len(out) != 2 {
		t.Errorf("alice's sentbox after rm: %+v", out)
	}

	// Refusals print the server's message: a recipient without a mailbox,
	// and a body over the hub's limit.
	carolPriv, _ := identity.New()
	carol, _ := identity.String(carolPriv.GetPublic())
	alice.mailRefused(errors.FailedPrecondition, "has no mailbox", func() error {
		_, err := usersclient.Send(alice.goCtx(alicePriv), uc, alicePriv, carolPriv.GetPublic(), []byte("hi"))
		return err
	}, "mail", "send", string(carol), file)
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, make([]byte, maxSize), 0o600); err != nil {
		t.Fatal(err)
	}
	alice.mailRefused(errors.Exhausted, "limit is 4096 bytes", func() error {
		_, err := usersclient.Send(alice.goCtx(alicePriv), uc, alicePriv, bobPriv.GetPublic(), make([]byte, maxSize))
		return err
	}, "mail", "send", bob.pub, big)
	if msg := alice.errorLine("mail", "send", "not-a-key", file); !strings.HasPrefix(msg, "recipient: ") || !strings.HasSuffix(msg, "pass the public key hub mail setup printed for them") {
		t.Errorf("send to a malformed key: %q", msg)
	}
	if in := bob.lsJSON("inbox"); len(in) != 2 {
		t.Errorf("refused sends changed bob's inbox: %+v", in)
	}

	// A cached token the hub refuses is replaced, once.
	tokFile, _ := filepath.Glob(filepath.Join(bob.home, tokensDir, "*.json"))
	if len(tokFile) != 1 {
		t.Fatalf("bob's cached tokens: %v", tokFile)
	}
	b, _ := json.Marshal(cachedToken{API: h.Addrs.API, Key: key.Key, Token: "not.a.token"})
	if err := os.WriteFile(tokFile[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	if in := bob.lsJSON("inbox"); len(in) != 2 {
		t.Errorf("ls with a stale token: %+v", in)
	}
	if b2, _ := os.ReadFile(tokFile[0]); string(b2) == string(b) {
		t.Errorf("the refused token is still cached")
	}

	// watch prints new messages, decrypted, until its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wout, werr lockedBuffer
	done := make(chan error, 1)
	go func() {
		cmd := New(nil, &wout, &werr, func(k string) string { return bob.env[k] })
		cmd.SetArgs([]string{"mail", "watch", "--json"})
		done <- cmd.ExecuteContext(ctx)
	}()
	// The watch takes its position in the inbox once its Listen reaches
	// the server, which the command cannot tell us; send markers until one
	// shows up, and from then on nothing can be missed.
	deadline := time.Now().Add(2 * time.Minute)
	for len(watched(t, wout.String())) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("watch printed nothing within 2 minutes; stderr %q", werr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("watch ended early: %v; stderr %q", err, werr.String())
		default:
		}
		send("marker")
		time.Sleep(50 * time.Millisecond) // pace the markers, not a wait for state
	}
	want := send("hello, watcher")
	var got messageJSON
	for got.ID != want {
		if time.Now().After(deadline) {
			t.Fatalf("watch did not print %s within 2 minutes; it printed %q", want, wout.String())
		}
		for _, m := range watched(t, wout.String()) {
			if m.ID == want {
				got = m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got.Body != "hello, watcher" || got.From != alice.pub || got.Seq == 0 || got.Error != "" {
		t.Errorf("watch printed %+v", got)
	}
	if !strings.Contains(werr.String(), "Watching the inbox of "+bob.pub) {
		t.Errorf("watch stderr %q", werr.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("an interrupted watch returned %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("watch did not stop when its context ended")
	}
}
