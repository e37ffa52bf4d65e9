package abuse

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// TestScriptCPUShare: an account whose write validator loops until its
// time limit writes back to back from four connections' worth of
// goroutines, each on its own DB, to keep a core busy for as long as it likes. With
// --script-cpu-share 10 on two cores its calls may keep a fifth of a core
// busy on average: the calls that ran (each for its whole limit) add up to
// no more than that share of the attack's wall time, plus a window's
// burst; the calls that could not start in time are refused with
// ResourceExhausted naming the account's share; and another account's
// validated writes go through all the while.
//
// The bound is on CPU time, what the share counts: the CPU time of the
// child's script threads (niced to --script-nice, which nothing else
// runs on), read from /proc. A loaded machine gives each call less CPU
// within its wall-time limit and so lets more calls run, which the bound
// allows for. The other account's tiny validators run on those threads
// too, within the slack. Without the share, the attacker's calls ran back
// to back, five times the bound.
func TestScriptCPUShare(t *testing.T) {
	t.Setenv("GOMAXPROCS", "2") // the child's cores, which the share is of
	const (
		share   = 0.10 // of each core
		cores   = 2
		timeout = 100 * time.Millisecond
		attack  = 4 * time.Second
	)
	h := startHub(t, "--script-cpu-share", "10", "--script-cpu-window", "1s", "--script-timeout", "100ms", "--script-nice", "10")
	attacker, other := newTenant(t, h, "mallory"), newTenant(t, h, "alice")
	// A DB per goroutine: writes to one DB wait for each other before
	// their validators run.
	var spins []threadsclient.ID
	for range 4 {
		id, err := attacker.Threads.NewDB(attacker.User, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{
			{Name: "spin", WriteValidator: "while (true) {}"}}})
		if err != nil {
			t.Fatal(err)
		}
		spins = append(spins, id)
	}
	fine, err := other.Threads.NewDB(other.User, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{
		{Name: "notes", WriteValidator: "return typeof writer === 'string'"}}})
	if err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithTimeout(context.Background(), attack)
	defer stop()
	var (
		mu              sync.Mutex
		ran, refused    int
		refusal, oddErr error
		wg              sync.WaitGroup
	)
	start, cpuStart := time.Now(), scriptCPU(t, h, 10)
	for _, spin := range spins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				_, err := attacker.Threads.Create(attacker.User, spin, "spin", json.RawMessage(`{}`))
				mu.Lock()
				switch {
				case errors.Is(errors.DeadlineExceeded, err) && strings.Contains(err.Error(), "limit of 100ms"):
					ran++
				case errors.Is(errors.Exhausted, err):
					refused++
					refusal = err
				default:
					oddErr = err
				}
				mu.Unlock()
			}
		}()
	}
	// The other account writes, through its own validator, all along.
	writes := 0
	for ctx.Err() == nil {
		if _, err := other.Threads.Create(other.User, fine, "notes", json.RawMessage(`{"text":"hello"}`)); err != nil {
			t.Fatalf("another account's validated write during the attack: %v", err)
		}
		writes++
	}
	wg.Wait()
	wall, used := time.Since(start), scriptCPU(t, h, 10)-cpuStart
	if oddErr != nil {
		t.Fatalf("an attacker's write: %v; want DeadlineExceeded or ResourceExhausted", oddErr)
	}
	allowed := time.Duration(share*cores*float64(wall)) + time.Duration(share*cores*float64(time.Second))
	t.Logf("in %v the attacker's validators ran %d calls of %v, %d were refused, and the script threads used %v of CPU; the other account wrote %d times",
		wall.Round(time.Millisecond), ran, timeout, refused, used, writes)
	// A call is charged when it ends, and may run a little past its limit:
	// a third more, and one call in flight.
	if used > allowed*4/3+timeout {
		t.Fatalf("the script threads used %v of CPU in %v; the attacker's share allows %v", used, wall, allowed)
	}
	// The share refuses calls once the attacker's scripts have had their
	// share of CPU; on a machine busy enough to give them less, the wait
	// for the account's one place may refuse them instead, or nothing.
	if reached := used >= time.Duration(share*cores*float64(wall)); reached &&
		(refusal == nil || !strings.Contains(refusal.Error(), "more than its share of this hub's script time")) {
		t.Fatalf("the attacker's refused calls: %v; want ResourceExhausted saying it used more than its share", refusal)
	}
	other.mustBeServed(t)
	h.alive(t)
}

// scriptCPU returns the CPU time the child's threads at nice have used: the
// script workers' threads, which run nothing else (an idle worker's thread
// ends, and its time leaves the sum, only after 10 s without calls).
func scriptCPU(t *testing.T, h *target, nice int) time.Duration {
	t.Helper()
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", h.Cmd.Process.Pid))
	if err != nil || len(stats) == 0 {
		t.Fatalf("hubd's threads: %v", err)
	}
	var sum time.Duration
	for _, path := range stats {
		stat, err := os.ReadFile(path)
		if err != nil {
			continue // the thread ended
		}
		if f := statFields(stat); len(f) > 16 && f[16] == strconv.Itoa(nice) {
			sum += statCPU(t, stat)
		}
	}
	return sum
}
