// Package testhub starts real hubd daemons for tests: in process on free
// loopback ports with a temporary repo, or as a child process of a freshly
// built binary. Nothing is mocked; the tests talk to hubd over the network.
// Tests of every package use it (cli, client, compat, test); it sits with
// the end-to-end tests under test/, since internal/ holds code hubd runs.
package testhub

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	"github.com/selfhub/hub/daemon"
)

// Hub is a daemon running in the test process.
type Hub struct {
	Config daemon.Config
	Addrs  daemon.Addrs
	// Conn is a gRPC connection to Addrs.API, made with client.Dial.
	Conn *grpc.ClientConn
	d    *daemon.Daemon
	t    testing.TB
}

// Config returns a configuration for a test daemon: dev mode, a temporary
// repo, and port 0 everywhere so many daemons can run at once.
//
// Write validators and read filters get a minute a call (ScriptTimeout)
// instead of 100 ms: the daemon runs in the test process, where the race
// detector makes the script engine tens of times slower, and a busy machine
// may starve a call besides; a test that needs the limit to trip sets its
// own.
func Config(t testing.TB) daemon.Config {
	cfg := daemon.DefaultConfig()
	cfg.Repo = t.TempDir()
	cfg.APIAddr = "127.0.0.1:0"
	cfg.WebAddr = "127.0.0.1:0"
	cfg.GatewayAddr = "127.0.0.1:0"
	cfg.S3Addr = "127.0.0.1:0"
	cfg.P2PAddr = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Dev = true
	cfg.ScriptTimeout = time.Minute
	return cfg
}

// Start starts a daemon with Config(t), changed by edit when it is not nil,
// and stops it when the test ends.
func Start(t testing.TB, edit func(*daemon.Config)) *Hub {
	t.Helper()
	cfg := Config(t)
	if edit != nil {
		edit(&cfg)
	}
	h := &Hub{Config: cfg, t: t}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *Hub) start() {
	h.t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := daemon.Start(context.Background(), h.Config, log)
	if err != nil {
		h.t.Fatalf("start hubd: %v", err)
	}
	h.d = d
	h.Addrs = d.Addrs()
	h.Conn, err = client.Dial(context.Background(), h.Addrs.API)
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *Hub) stop() {
	if h.d == nil {
		return
	}
	h.Conn.Close()
	// Generous: on a busy machine, forming the last records may take a
	// while; the bound only keeps a shutdown that hangs from hanging the
	// test.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := h.d.Close(ctx); err != nil {
		h.t.Errorf("stop hubd: %v", err)
	}
	h.d = nil
}

// Stop stops the daemon, so a test can read what it left in its repo; a
// stopped daemon can be started again with Restart.
func (h *Hub) Stop() { h.stop() }

// Restart stops the daemon and starts it again on the same repo (on new
// ports, unless the configuration fixed them).
func (h *Hub) Restart() {
	h.t.Helper()
	h.stop() // harmless when it is stopped already
	h.start()
}

// testWriter sends log output to the test's log, so it shows on failure.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// built holds the binaries Build compiled in this test process, by
// package, in a directory Main made and removes: a package's end-to-end
// tests start hubd dozens of times, and linking it takes seconds (tens
// of them on a busy machine). It is the process's because a test
// binary is one process: Main is its TestMain.
var built struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

// Main runs a package's tests (call it from TestMain) with a directory for
// the binaries Build compiles, and removes it after them; it returns the
// exit code for os.Exit.
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "testhub-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testhub:", err)
		return 1
	}
	built.Lock()
	built.dir, built.paths = dir, map[string]string{}
	built.Unlock()
	code := m.Run()
	os.RemoveAll(dir)
	return code
}

// Build compiles a main package of this module (such as "./cmd/hubd") once
// per test process and returns the binary's path. The package's TestMain
// must call Main.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.dir == "" {
		t.Fatal("testhub.Build needs the package's TestMain to run testhub.Main")
	}
	if out, ok := built.paths[pkg]; ok {
		return out
	}
	out := filepath.Join(built.dir, strings.NewReplacer("/", "_", ".", "_").Replace(pkg), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built.paths[pkg] = out
	return out
}

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// Process is a hubd running as a child process.
type Process struct {
	Cmd   *exec.Cmd
	Addrs daemon.Addrs
	// Logs receives every JSON log record the process writes after start-up.
	Logs chan map[string]any
	done chan struct{}
	mu   sync.Mutex
	err  error // guarded by mu: how the process ended
}

// StartProcess runs the hubd binary with args (plus --log-format json) and
// waits until it logs that it is ready. The process is killed when the
// test ends if it is still running.
func StartProcess(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--log-format", "json")...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	p := &Process{Cmd: cmd, Logs: make(chan map[string]any, 1024), done: make(chan struct{})}
	ready := make(chan daemon.Addrs, 1)
	go p.readLogs(t, stderr, ready)
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() { p.Kill() })
	select {
	case p.Addrs = <-ready:
		return p
	case <-p.done:
		t.Fatalf("hubd exited before it was ready: %v", p.Err())
	case <-time.After(60 * time.Second):
		t.Fatal("hubd did not log that it was ready within 60s")
	}
	return nil
}

func (p *Process) readLogs(t testing.TB, r io.Reader, ready chan<- daemon.Addrs) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			continue // not a log record (a panic trace, say)
		}
		if rec["msg"] == "hubd ready" {
			a := daemon.Addrs{API: str(rec["api"]), Web: str(rec["web"]), Gateway: str(rec["gateway"]), S3: str(rec["s3"])}
			if l, ok := rec["p2p"].([]any); ok {
				for _, x := range l {
					a.P2P = append(a.P2P, str(x))
				}
			}
			ready <- a
			continue
		}
		select {
		case p.Logs <- rec:
		default: // nobody is reading; drop rather than block the child
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

// Kill ends the process at once (SIGKILL), as a crash would.
func (p *Process) Kill() {
	if p.Cmd.Process != nil {
		p.Cmd.Process.Kill()
	}
	<-p.done
}

// Stop asks the process to shut down (SIGTERM) and waits for it.
func (p *Process) Stop() error {
	p.Cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.Cmd.Process.Kill()
		<-p.done
	}
	return p.Err()
}

// Err is how the process ended, once it has.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// DirBytes is the size of the files under dir, such as a repo's blocks
// directory, where garbage collection shows as a shrinking total.
func DirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Dial connects to a gRPC address the way an application does
// (client.Dial) and closes the connection when the test ends.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := client.Dial(context.Background(), addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// WithKey returns a context carrying k, signed to expire an hour from now
// when k is secure.
func WithKey(t testing.TB, k hub.APIKey) context.Context {
	t.Helper()
	secret := ""
	if k.Secure {
		secret = k.Secret
	}
	ctx, err := client.WithAPIKey(context.Background(), k.Key, secret)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}
