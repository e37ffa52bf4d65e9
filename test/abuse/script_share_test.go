package abuse

import (
	"context"
	"encoding/json"
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
// The bound is on the attacker's engine time, which is wall time: a slow
// or loaded machine only spaces the attacker's calls further apart, so it
// cannot make the test fail. Without the share, the attacker's calls ran
// back to back, five times the bound.
func TestScriptCPUShare(t *testing.T) {
	t.Setenv("GOMAXPROCS", "2") // the child's cores, which the share is of
	const (
		share   = 0.10 // of each core
		cores   = 2
		timeout = 100 * time.Millisecond
		attack  = 4 * time.Second
	)
	h := startHub(t, "--script-cpu-share", "10", "--script-cpu-window", "1s", "--script-timeout", "100ms")
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
	start := time.Now()
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
	wall := time.Since(start)
	if oddErr != nil {
		t.Fatalf("an attacker's write: %v; want DeadlineExceeded or ResourceExhausted", oddErr)
	}
	used := time.Duration(ran) * timeout
	allowed := time.Duration(share*cores*float64(wall)) + time.Duration(share*cores*float64(time.Second))
	t.Logf("in %v the attacker's validators ran %d calls of %v (%v), %d were refused; the other account wrote %d times",
		wall.Round(time.Millisecond), ran, timeout, used, refused, writes)
	// Each call is counted at its limit, though it may run a little past it:
	// a third more, and one call in flight.
	if used > allowed*4/3+timeout {
		t.Fatalf("the attacker's validators ran %v in %v; its share allows %v", used, wall, allowed)
	}
	if refusal == nil || !strings.Contains(refusal.Error(), "more than its share of this hub's script time") {
		t.Fatalf("the attacker's refused calls: %v; want ResourceExhausted saying it used more than its share", refusal)
	}
	other.mustBeServed(t)
	h.alive(t)
}
