package test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/test/testhub"
)

// listApp is one run of the sharedlist example as a process of its own.
type listApp struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// sharedlist runs the example's binary with args and the environment
// env, and returns what it printed; the test fails if it fails.
func sharedlist(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sharedlist %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// startList runs `sharedlist -dir dir run` and waits until it has printed
// the items it holds.
func startList(t *testing.T, bin, dir string) *listApp {
	t.Helper()
	cmd := exec.Command(bin, "-dir", dir, "-listen", "/ip4/127.0.0.1/tcp/0", "run")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriterTo{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &listApp{cmd: cmd, in: in, lines: make(chan string, 1024)}
	go func() {
		defer close(a.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	a.wait(t, "ready")
	return a
}

// testWriterTo logs what a child writes to its standard error.
type testWriterTo struct{ t *testing.T }

func (w testWriterTo) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// add adds an item, as a person typing a line.
func (a *listApp) add(t *testing.T, text string) {
	t.Helper()
	if _, err := io.WriteString(a.in, text+"\n"); err != nil {
		t.Fatal(err)
	}
}

// wait reads the app's output until a line ends in want.
func (a *listApp) wait(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case l, ok := <-a.lines:
			if !ok {
				t.Fatalf("sharedlist ended before it printed %q", want)
			}
			if strings.HasSuffix(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("sharedlist did not print %q in 3 minutes", want)
		}
	}
}

// stop ends the app as a person does, by ending its input.
func (a *listApp) stop(t *testing.T) {
	t.Helper()
	a.in.Close()
	if err := a.cmd.Wait(); err != nil {
		t.Fatalf("sharedlist run: %v", err)
	}
}

// TestSharedListExample builds examples/sharedlist and runs it as two
// people would on two machines, as separate processes, with a hubd child
// as the list's replicator, added with a user group key and the list's
// identity's token: items added on one show on the other, and items added
// while one is stopped show on it when it runs again.
func TestSharedListExample(t *testing.T) {
	hubd := testhub.Build(t, "./cmd/hubd")
	bin := testhub.Build(t, "./examples/sharedlist")
	p := testhub.StartProcess(t, hubd, nil, hubdArgs(t.TempDir())...)
	hc := hubclient.New(testhub.Dial(t, p.Addrs.API))
	sctx, _ := signup(t, hc, "alice")
	k, err := hc.CreateKey(sctx, hub.UserKey, false)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"HUB_KEY=" + k.Key, "HUB_SECRET="}
	dirA, dirB := t.TempDir(), t.TempDir()
	invitation := sharedlist(t, bin, env, "-dir", dirA, "-listen", "/ip4/127.0.0.1/tcp/0",
		"-hub-api", p.Addrs.API, "-hub-p2p", p.Addrs.P2P[0], "-user-key", "create")
	if !strings.Contains(invitation, "/thread/") || !strings.Contains(invitation, ":") {
		t.Fatalf("create printed %q; want ADDRESS:KEY", invitation)
	}
	sharedlist(t, bin, nil, "-dir", dirB, "-listen", "/ip4/127.0.0.1/tcp/0", "join", invitation)

	a, b := startList(t, bin, dirA), startList(t, bin, dirB)
	a.add(t, "milk")
	b.wait(t, " milk")
	b.add(t, "eggs")
	a.wait(t, " eggs")

	b.stop(t)
	a.add(t, "bread") // while B is stopped
	a.wait(t, " bread")
	b = startList(t, bin, dirB)
	b.wait(t, " bread")

	a.stop(t)
	b.add(t, "jam") // while A is stopped
	a = startList(t, bin, dirA)
	a.wait(t, " jam")
	a.stop(t)
	b.stop(t)
}
