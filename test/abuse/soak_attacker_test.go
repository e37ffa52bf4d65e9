package abuse

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/test/testhub"
)

// The soak's attackers run in a process of their own: in the test process
// their client-side work (encoding 50 KB writes, opening and dropping
// streams, holding 400 sockets) would delay the measuring client's
// goroutines, and the benchmark would charge hubd for it. The test binary
// runs again as the attacker when attackerEnv is set (TestMain), niced to
// 19 so that on a small machine the scheduler stands in for the attacker's
// own machine.

// attackerEnv names the environment variable that turns the test binary
// into the soak's attacker; its value is an attackerConfig in JSON.
const attackerEnv = "HUB_ABUSE_SOAK_ATTACKER"

// attackerReady is the line the attacker prints once every attack runs.
const attackerReady = "attacking"

// attacks are the kinds of attack the soak makes, alone or all at once.
var attacks = []string{"scripts", "listeners", "streams", "conns"}

// attackerConfig is what the attacker process is told: the hubd it attacks,
// the credentials of the hostile tenant's user the benchmark signed in, and
// the kinds of attack to make.
type attackerConfig struct {
	API, Gateway, Web  string // hubd's gRPC, gateway and gRPC-Web addresses
	Key, Secret, Token string // the user's API key (Secret only if secure) and token
	Kinds              []string
}

// startAttacker signs up a hostile tenant on h and starts the attacker
// process making the kinds of attack named, niced to 19; it returns the
// process once every attack runs. The process is killed when b's run ends.
func startAttacker(b *testing.B, h *target, kinds []string) *os.Process {
	b.Helper()
	evil := newTenant(b, h, "evil")
	tok, err := evil.Threads.GetToken(testhub.WithKey(b, evil.AppKey), evil.UserKey)
	if err != nil {
		b.Fatalf("the hostile tenant's token: %v", err)
	}
	cfg := attackerConfig{API: h.Addrs.API, Gateway: h.Addrs.Gateway, Web: h.Addrs.Web,
		Key: evil.AppKey.Key, Token: tok, Kinds: kinds}
	if evil.AppKey.Secure {
		cfg.Secret = evil.AppKey.Secret
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	nice, err := exec.LookPath("nice")
	if err != nil {
		b.Fatalf("the soak's attacker runs under nice -n 19, and nice is not found: %v", err)
	}
	cmd := exec.Command(nice, "-n", "19", self)
	cmd.Env = append(os.Environ(), attackerEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	// The pipe stays open while the attacker runs: its end tells an
	// attacker whose benchmark died to stop.
	if _, err := cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the attacker: %v", err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != attackerReady {
			err = fmt.Errorf("it said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			b.Fatalf("the attacker did not start attacking: %v", err)
		}
	case <-time.After(2 * time.Minute):
		b.Fatal("the attacker did not start attacking within 2 minutes")
	}
	mustBeNiced(b, cmd.Process.Pid)
	return cmd.Process
}

// mustBeNiced fails b unless every thread of process pid runs at nice 19.
func mustBeNiced(b *testing.B, pid int) {
	b.Helper()
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		b.Fatalf("the attacker's threads (/proc/%d/task): %v", pid, err)
	}
	for _, path := range stats {
		stat, err := os.ReadFile(path)
		if err != nil {
			b.Fatalf("read %s: %v", path, err)
		}
		if f := statFields(stat); len(f) < 17 || f[16] != "19" {
			b.Fatalf("the attacker's thread %s is not at nice 19: %s", path, stat)
		}
	}
}

// attackerMain runs the test binary as the soak's attacker, configured by
// cfg (attackerConfig in JSON): it makes the attacks until its stdin ends
// or it is killed, and returns the process's exit code.
func attackerMain(cfg string) int {
	var c attackerConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		fmt.Fprintf(os.Stderr, "soak attacker: %s: %v\n", attackerEnv, err)
		return 2
	}
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	var wg sync.WaitGroup
	if err := attack(ctx, c, &wg); err != nil {
		fmt.Fprintf(os.Stderr, "soak attacker: %v\n", err)
		stop()
		wg.Wait()
		return 1
	}
	fmt.Println(attackerReady)
	wg.Wait()
	return 0
}

// attack makes the kinds of attack c names as the hostile tenant's user;
// the attacks stop when ctx ends, and wg counts them.
func attack(ctx context.Context, c attackerConfig, wg *sync.WaitGroup) error {
	conn, err := client.Dial(ctx, c.API)
	if err != nil {
		return fmt.Errorf("dial %s: %w", c.API, err)
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	evil := threadsclient.New(conn)
	key, err := client.WithAPIKey(ctx, c.Key, c.Secret)
	if err != nil {
		return err
	}
	// The attacker's credentials, ended with the attack.
	creds := client.WithToken(key, c.Token)
	bombs := map[string]string{
		"string": `'x'.repeat(1e9); return true`,
		"array":  `new Array(1e8).fill(0); return true`,
		"regex":  `return /^(a+)+(?=c)/.test('a'.repeat(34)+'b')`,
	}
	var colls []threadsclient.CollectionConfig
	for name, body := range bombs {
		colls = append(colls, threadsclient.CollectionConfig{Name: name, WriteValidator: body})
	}
	colls = append(colls, threadsclient.CollectionConfig{Name: "big"})
	db, err := evil.NewDB(creds, "", threadsclient.DBOptions{Collections: colls})
	if err != nil {
		return fmt.Errorf("NewDB: %w", err)
	}
	loop := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100_000 { // bounded, whatever happens
				if ctx.Err() != nil {
					return
				}
				fn()
			}
		}()
	}
	// Memory and CPU bombs in write validators: every write is refused.
	for name := range bombs {
		if !slices.Contains(c.Kinds, "scripts") {
			break
		}
		loop(func() { evil.Create(creds, db, name, json.RawMessage(`{}`)) })
	}
	// Listeners that never read, while 50 KB writes pile up behind them.
	if slices.Contains(c.Kinds, "listeners") {
		listeners(ctx, creds, evil, db, wg, loop)
	}
	// A flood of Listen streams, opened and dropped.
	if slices.Contains(c.Kinds, "streams") {
		loop(func() {
			c, cancel := context.WithTimeout(creds, 20*time.Millisecond)
			evil.Listen(c, db, nil, 0, func(threadsclient.ListenEvent) error { return nil })
			cancel()
		})
	}
	if slices.Contains(c.Kinds, "conns") {
		idleConns(ctx, []string{c.Gateway, c.Web}, wg)
	}
	return nil
}

// listeners opens 50 Listen streams that never read and writes 50 KB
// instances behind them.
func listeners(ctx, creds context.Context, evil *threadsclient.Client, db threadsclient.ID, wg *sync.WaitGroup, loop func(func())) {
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			evil.Listen(creds, db, nil, 0, func(threadsclient.ListenEvent) error {
				<-ctx.Done()
				return ctx.Err()
			})
		}()
	}
	big := json.RawMessage(`{"blob":"` + strings.Repeat("z", 50<<10) + `"}`)
	loop(func() {
		evil.Create(creds, db, "big", big)
		sleepCtx(ctx, 50*time.Millisecond)
	})
}

// idleConns holds 400 idle connections, spread over addrs, until ctx ends.
func idleConns(ctx context.Context, addrs []string, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		for i := range 400 {
			c, err := net.DialTimeout("tcp", addrs[i%len(addrs)], time.Second)
			if err != nil {
				continue // refused at the cap: that is the point
			}
			conns = append(conns, c)
		}
		<-ctx.Done()
		for _, c := range conns {
			c.Close()
		}
	}()
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
