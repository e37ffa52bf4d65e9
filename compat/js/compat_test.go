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

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/internal/testhub"
)

// nodeTimeout bounds one run of the Node test runner. Each JavaScript test
// sets its own, shorter, timeout; this one catches a runner that hangs.
const nodeTimeout = 3 * time.Minute

// Fixture is a running hubd and the credentials handed to the JavaScript
// tests.
type Fixture struct {
	Hub *testhub.Hub
	// Env holds the HUB_* variables the JavaScript tests read, as
	// "NAME=value" strings.
	Env []string
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
	return &Fixture{Hub: h, Env: []string{
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

// TestJS runs every Node test file in test/ against one hubd.
func TestJS(t *testing.T) {
	f := Start(t)
	f.Node(t, "--test", "test/")
}
