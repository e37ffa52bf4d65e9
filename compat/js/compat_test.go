// Package compat checks wire compatibility with the published Textile
// JavaScript clients: a Go test starts a real hubd, makes the credentials a
// JavaScript app would be given, and runs the Node test files in test/
// against it with @textile/hub (pinned in package-lock.json).
//
// The JavaScript dependencies are installed by `make compat-deps`. Without
// them, or without node, the tests fail rather than skip: a compatibility
// suite that quietly does not run proves nothing.
package compat

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/multiformats/go-multibase"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	usersclient "github.com/selfhub/hub/client/users"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/test/testhub"
)

// nodeTimeout bounds one run of the Node test runner. Each JavaScript test
// sets its own, shorter, timeout; this one catches a runner that hangs.
// Both are far above what the tests take on a busy machine: they only stop
// hangs.
const nodeTimeout = 15 * time.Minute

// Fixture is a running hubd and the credentials handed to the JavaScript
// tests.
type Fixture struct {
	Hub *testhub.Hub
	// Env holds the HUB_* variables the JavaScript tests read, as
	// "NAME=value" strings.
	Env []string
	// UserKey is the secure user group key in HUB_USER_KEY.
	UserKey hub.APIKey
}

// Start checks that node and the pinned clients are installed, starts a
// hubd, signs up a developer and creates the API keys the JavaScript tests
// use:
//
//	HUB_WEB_URL                             gRPC-Web endpoint (http://host:port)
//	HUB_USER_KEY, HUB_USER_SECRET           secure user group key
//	HUB_INSECURE_USER_KEY                   non-signing user group key
//	HUB_INVALIDATED_KEY, HUB_INVALIDATED_SECRET
//	                                        secure user group key, invalidated
//	HUB_ACCOUNT_KEY, HUB_ACCOUNT_SECRET     secure account key
//	HUB_INSECURE_ACCOUNT_KEY                non-signing account key
//	HUB_BUCKETS_USER_KEY, HUB_BUCKETS_USER_SECRET,
//	HUB_BUCKETS_ACCOUNT_KEY, HUB_BUCKETS_ACCOUNT_SECRET
//	                                        secure user group and account
//	                                        keys of a second developer, for
//	                                        buckets.test.mjs
func Start(t *testing.T) *Fixture {
	t.Helper()
	requireDeps(t)
	h := testhub.Start(t, nil)
	hc := hubclient.New(h.Conn)
	sess, err := hc.Signup(t.Context(), "jsdev", "jsdev@example.com")
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	ctx := client.WithSession(t.Context(), sess.ID)
	key := func(typ hub.KeyType, secure bool) hub.APIKey {
		t.Helper()
		k, err := hc.CreateKey(ctx, typ, secure)
		if err != nil {
			t.Fatalf("create %v key (secure %v): %v", typ, secure, err)
		}
		return k
	}
	user, insecure, invalidated := key(hub.UserKey, true), key(hub.UserKey, false), key(hub.UserKey, true)
	account, insecureAccount := key(hub.AccountKey, true), key(hub.AccountKey, false)
	if err := hc.InvalidateKey(ctx, invalidated.Key); err != nil {
		t.Fatalf("invalidate key: %v", err)
	}
	// The bucket tests get a developer of their own: node runs the test
	// files in parallel, and the threads tests expect the account's DBs to
	// be exactly the ones they made, not the "buckets" DB getOrCreate adds.
	bsess, err := hc.Signup(t.Context(), "jsbuckets", "jsbuckets@example.com")
	if err != nil {
		t.Fatalf("signup: %v", err)
	}
	ctx = client.WithSession(t.Context(), bsess.ID)
	bucketsUser, bucketsAccount := key(hub.UserKey, true), key(hub.AccountKey, true)
	return &Fixture{Hub: h, UserKey: user, Env: []string{
		"HUB_BUCKETS_USER_KEY=" + bucketsUser.Key,
		"HUB_BUCKETS_USER_SECRET=" + bucketsUser.Secret,
		"HUB_BUCKETS_ACCOUNT_KEY=" + bucketsAccount.Key,
		"HUB_BUCKETS_ACCOUNT_SECRET=" + bucketsAccount.Secret,
		"HUB_WEB_URL=http://" + h.Addrs.Web,
		"HUB_USER_KEY=" + user.Key,
		"HUB_USER_SECRET=" + user.Secret,
		"HUB_INSECURE_USER_KEY=" + insecure.Key,
		"HUB_INVALIDATED_KEY=" + invalidated.Key,
		"HUB_INVALIDATED_SECRET=" + invalidated.Secret,
		"HUB_ACCOUNT_KEY=" + account.Key,
		"HUB_ACCOUNT_SECRET=" + account.Secret,
		"HUB_INSECURE_ACCOUNT_KEY=" + insecureAccount.Key,
	}}
}

// requireDeps fails the test unless node and the pinned clients are there.
func requireDeps(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): install Node 20, then run `make compat-deps`", err)
	}
	if _, err := os.Stat("node_modules/@textile/hub/package.json"); err != nil {
		t.Fatalf("the @textile JavaScript clients are not installed in compat/js/node_modules: run `make compat-deps` (%v)", err)
	}
}

// Node runs `node args...` in compat/js with f.Env added to the
// environment, sends its output to the test log line by line as it comes,
// and fails the test if node exits non-zero or outlives nodeTimeout.
func (f *Fixture) Node(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Env = append(os.Environ(), f.Env...)
	// The runner's child processes may hold the pipes open after a kill;
	// stop waiting for them soon after.
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			t.Log(sc.Text())
		}
		io.Copy(io.Discard, pr) // a line over 1 MiB: drain so node never blocks
	})
	start := time.Now()
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("node %s did not finish within %v", strings.Join(args, " "), nodeTimeout)
	}
	if err != nil {
		t.Fatalf("node %s: %v (after %v; its output is above)", strings.Join(args, " "), err, time.Since(start).Round(time.Millisecond))
	}
}

// TestJS runs every Node test file in test/ against one hubd, with the Go
// side of the mailbox tests (users.test.mjs) and of the S3 tests
// (s3.test.mjs) around it. HUB_JS_TEST, if
// set, names the one file to run instead (test/buckets.test.mjs), for
// working on one API.
func TestJS(t *testing.T) {
	f := Start(t)
	m := f.goMail(t)
	s3 := f.goS3(t)
	if only := os.Getenv("HUB_JS_TEST"); only != "" {
		f.Node(t, "--test", only)
		return
	}
	f.Node(t, "--test", "test/")
	m.checkFromJS(t)
	s3.checkFromJS(t)
}

// TestJoinJS runs twohubs/ against two hubd processes with unrelated
// developers: the published client's newDBFromAddr and joinFromInfo join,
// on hub B, a DB that hub A hosts. Hub B's gRPC-Web endpoint and account
// key come as HUB_B_WEB_URL, HUB_B_ACCOUNT_KEY and HUB_B_ACCOUNT_SECRET.
func TestJoinJS(t *testing.T) {
	a, b := Start(t), Start(t)
	for _, kv := range b.Env {
		if name, ok := strings.CutPrefix(kv, "HUB_"); ok && (strings.HasPrefix(name, "WEB_URL=") || strings.HasPrefix(name, "ACCOUNT_")) {
			a.Env = append(a.Env, "HUB_B_"+name)
		}
	}
	a.Node(t, "--test", "twohubs/")
}

// The bodies of the messages between Go and JavaScript; not ASCII, so an
// encoding slip shows.
const (
	goToJSBody = "from Go to JS: grüße ✓"
	jsToGoBody = "from JS to Go: grüße ✓"
)

// goMail is a Go-held identity with a mailbox in the JavaScript tests' app.
type goMail struct {
	uc   *usersclient.Client
	priv crypto.PrivKey
	ctx  context.Context
}

// goMail gives the JavaScript tests a Go identity to write to and a
// message that Go sent with client/users:
//
//	HUB_GO_PUBLIC           public key string of the Go identity (with a mailbox)
//	HUB_GO_TO_JS_IDENTITY   private key, in @textile/crypto's PrivateKey string
//	                        form, of an identity whose inbox holds a message
//	                        from the Go identity
//	HUB_GO_TO_JS_BODY       that message's plaintext
//	HUB_JS_TO_GO_BODY       what JavaScript is to send to the Go identity
func (f *Fixture) goMail(t *testing.T) *goMail {
	t.Helper()
	uc := usersclient.New(f.Hub.Conn)
	tc := threadsclient.New(f.Hub.Conn)
	user := func() (crypto.PrivKey, context.Context) {
		t.Helper()
		priv, err := identity.New()
		if err != nil {
			t.Fatal(err)
		}
		ctx := testhub.WithKey(t, f.UserKey)
		tok, err := tc.GetToken(ctx, priv)
		if err != nil {
			t.Fatalf("GetToken: %v", err)
		}
		ctx = client.WithToken(ctx, tok)
		if _, err := uc.SetupMailbox(ctx); err != nil {
			t.Fatalf("SetupMailbox: %v", err)
		}
		return priv, ctx
	}
	goPriv, goCtx := user()
	jsPriv, _ := user()
	if _, err := usersclient.Send(goCtx, uc, goPriv, jsPriv.GetPublic(), []byte(goToJSBody)); err != nil {
		t.Fatalf("SendMessage from Go: %v", err)
	}
	goPub, err := identity.String(goPriv.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	// @textile/crypto's PrivateKey.fromString takes multibase (base32) of
	// the libp2p-marshalled private key.
	b, err := crypto.MarshalPrivateKey(jsPriv)
	if err != nil {
		t.Fatal(err)
	}
	jsPrivStr, err := multibase.Encode(multibase.Base32, b)
	if err != nil {
		t.Fatal(err)
	}
	f.Env = append(f.Env,
		"HUB_GO_PUBLIC="+string(goPub),
		"HUB_GO_TO_JS_IDENTITY="+jsPrivStr,
		"HUB_GO_TO_JS_BODY="+goToJSBody,
		"HUB_JS_TO_GO_BODY="+jsToGoBody,
	)
	return &goMail{uc: uc, priv: goPriv, ctx: goCtx}
}

// checkFromJS opens, with client/users, the message JavaScript sent to the
// Go identity.
func (m *goMail) checkFromJS(t *testing.T) {
	t.Helper()
	in, err := m.uc.ListInboxMessages(m.ctx, usersclient.ListOptions{})
	if err != nil {
		t.Fatalf("the Go identity's inbox: %v", err)
	}
	if len(in) != 1 {
		t.Fatalf("the Go identity's inbox holds %d messages, want the one from JavaScript", len(in))
	}
	body, err := usersclient.Open(m.priv, in[0])
	if err != nil {
		t.Fatalf("the message from JavaScript does not open in Go: %v", err)
	}
	if string(body) != jsToGoBody {
		t.Errorf("the message from JavaScript opened to %q, want %q", body, jsToGoBody)
	}
}
