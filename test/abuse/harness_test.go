// Package abuse attacks a real hubd the way a hostile tenant would: every
// test starts a child hubd (a freshly built binary, so a crash is a crash
// of the process and not of the test), makes the attack with the public
// clients or raw connections, and checks three things: hubd is still up,
// another tenant is still served, and the attacker got a clear status.
package abuse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	hubclient "github.com/selfhub/hub/client/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
)

// hubdBin is the hubd binary every test of the package runs, built once by
// TestMain.
var hubdBin string

func TestMain(m *testing.M) {
	if cfg := os.Getenv(attackerEnv); cfg != "" {
		os.Exit(attackerMain(cfg))
	}
	dir, err := os.MkdirTemp("", "abuse-hubd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hubdBin = filepath.Join(dir, "hubd")
	build := exec.Command("go", "build", "-o", hubdBin, "./cmd/hubd")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/hubd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		panic(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// target is a child hubd under attack.
type target struct {
	*testhub.Process
	Repo string
	args []string // what it was started with, for restart
}

// startHub starts a child hubd in dev mode on loopback ports with a
// temporary repo; args are added to (and may override) the defaults.
func startHub(t testing.TB, args ...string) *target {
	t.Helper()
	repo := t.TempDir()
	base := []string{"--repo", repo, "--dev", "--api-addr", "127.0.0.1:0", "--web-addr", "127.0.0.1:0",
		"--gateway-addr", "127.0.0.1:0", "--s3-addr", "127.0.0.1:0", "--p2p-addr", "/ip4/127.0.0.1/tcp/0", "--ipfs-dht", "off"}
	args = append(base, args...)
	return &target{Process: testhub.StartProcess(t, hubdBin, nil, args...), Repo: repo, args: args}
}

// restart kills the child hubd, as a crash would, and starts another with
// the same flags on the same repo (on new ports: dial h.Addrs again).
func (h *target) restart(t *testing.T) {
	t.Helper()
	h.Kill()
	h.Process = testhub.StartProcess(t, hubdBin, nil, h.args...)
}

// alive fails the test if the child hubd has exited.
func (h *target) alive(t testing.TB) {
	t.Helper()
	if err := h.Err(); err != nil || h.Cmd.ProcessState != nil {
		t.Fatalf("hubd is gone: %v", err)
	}
}

// rss returns the child's resident set and its peak (VmRSS, VmHWM), in
// bytes, read from /proc.
func (h *target) rss(t testing.TB) (now, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.Cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read hubd's status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			now = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return now, peak
}

// tenant is a developer with a user group key (an app) and one signed-in
// user of that app, connected to a target hubd.
type tenant struct {
	Dev     context.Context // the developer's session
	AppKey  hub.APIKey      // the app's user group key (not secure)
	User    context.Context // the app user's key and token
	UserKey crypto.PrivKey  // the app user's identity
	Hub     *hubclient.Client
	Threads *threadsclient.Client
	Buckets *bucketsclient.Client
}

// newTenant signs up a developer called name, creates a user group key for
// their app and signs in one fresh user of it.
func newTenant(t testing.TB, h *target, name string) *tenant {
	t.Helper()
	conn := testhub.Dial(t, h.Addrs.API)
	tn := &tenant{Hub: hubclient.New(conn), Threads: threadsclient.New(conn), Buckets: bucketsclient.New(conn)}
	sess, err := tn.Hub.Signup(context.Background(), name, name+"@example.com")
	if err != nil {
		t.Fatalf("signup %s: %v", name, err)
	}
	tn.Dev = client.WithSession(context.Background(), sess.ID)
	if tn.AppKey, err = tn.Hub.CreateKey(tn.Dev, hub.UserKey, false); err != nil {
		t.Fatalf("%s: create user group key: %v", name, err)
	}
	tn.User, tn.UserKey = tn.newUser(t)
	return tn
}

// newUser signs in a fresh identity of the tenant's app and returns its
// credentials.
func (tn *tenant) newUser(t testing.TB) (context.Context, crypto.PrivKey) {
	t.Helper()
	return testhub.NewUser(t, tn.Threads, tn.AppKey)
}

// served checks, within a generous deadline, that the tenant's user is
// served end to end: a new DB, a write, the write read back, and a bucket
// push pulled back. It returns the first failure.
func (tn *tenant) served() error {
	user, cancel := context.WithTimeout(tn.User, 2*time.Minute)
	defer cancel()
	id, err := tn.Threads.NewDB(user, "", threadsclient.DBOptions{
		Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		return fmt.Errorf("NewDB: %w", err)
	}
	ids, err := tn.Threads.Create(user, id, "notes", json.RawMessage(`{"text":"still here"}`))
	if err != nil {
		return fmt.Errorf("Create: %w", err)
	}
	got, err := tn.Threads.FindByID(user, id, "notes", ids[0])
	if err != nil {
		return fmt.Errorf("FindByID: %w", err)
	}
	if !bytes.Contains(got, []byte("still here")) {
		return fmt.Errorf("FindByID gave %s; want the instance written", got)
	}
	in := client.WithThread(user, id.String())
	made, err := tn.Buckets.Create(in, "served", bucketsclient.CreateOptions{})
	if err != nil {
		return fmt.Errorf("bucket Create: %w", err)
	}
	data := []byte("a well-behaved tenant's file")
	if _, err := tn.Buckets.PushPath(in, made.Root.Key, "f.txt", bytes.NewReader(data), ""); err != nil {
		return fmt.Errorf("PushPath: %w", err)
	}
	var pulled bytes.Buffer
	if _, err := tn.Buckets.PullPath(in, made.Root.Key, "f.txt", &pulled); err != nil {
		return fmt.Errorf("PullPath: %w", err)
	}
	if !bytes.Equal(pulled.Bytes(), data) {
		return fmt.Errorf("PullPath gave %q; want %q", pulled.Bytes(), data)
	}
	return nil
}

// mustBeServed fails the test unless the tenant is served.
func (tn *tenant) mustBeServed(t testing.TB) {
	t.Helper()
	if err := tn.served(); err != nil {
		t.Fatalf("a well-behaved tenant is not served: %v", err)
	}
}
