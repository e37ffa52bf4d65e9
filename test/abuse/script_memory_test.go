package abuse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// TestScriptMemory: a tenant's write validators and read filters try to
// exhaust hubd's memory and CPU: a string of a terabyte, one past the
// memory limit, an array of 1e8 elements, a loop that fills the heap (four
// calls at once), and a catastrophic regular expression. Each write or
// read gets a clear status naming the limit, hubd survives with its memory
// bounded and is not left busy after the calls return, another tenant is
// served, and the attacker's stored instance is unchanged.
//
// The calls get a second (--script-timeout), not the default 100 ms: the
// attacks that must meet the memory limit meet it in milliseconds, but a
// busy machine could starve them past 100 ms; the attacks that must meet
// the time limit never end.
func TestScriptMemory(t *testing.T) {
	h := startHub(t, "--script-timeout", "1s")
	attacker, other := newTenant(t, h, "mallory"), newTenant(t, h, "alice")
	ctx, cancel := context.WithTimeout(attacker.User, 2*time.Minute)
	defer cancel()
	th := attacker.Threads
	const original = `{"text":"original"}`
	db, err := th.NewDB(ctx, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := th.Create(ctx, db, "notes", json.RawMessage(original))
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	changed := json.RawMessage(`{"_id":"` + id + `","text":"changed"}`)

	const (
		terabyte  = "'x'.repeat(1e12).length > 0"
		pastLimit = "'x'.repeat(1e8).length > 0"
		bigArray  = "new Array(1e8).fill(0).length > 0"
		fillHeap  = "(function () { var a = []; while (true) a.push('x'.repeat(1e6) + a.length) })()"
		regex     = "/^(a+)+(?=c)/.test('a'.repeat(34) + 'b')"
	)
	// Each expression is tried as a validator and as a filter; the heap
	// filler may meet the time limit first on a busy machine, or find its
	// account's calls all running.
	attacks := []struct {
		name  string
		expr  string
		kinds []errors.Kind
		says  []string
	}{
		{"a string of a terabyte", terabyte, []errors.Kind{errors.Invalid}, []string{"RangeError: invalid repeat count"}},
		{"a string past the memory limit", pastLimit, []errors.Kind{errors.Exhausted}, []string{"memory limit of 64 MiB"}},
		{"an array of 1e8", bigArray, []errors.Kind{errors.Invalid}, []string{"longer than 262144, the limit of validators and filters"}},
		{"a loop filling the heap", fillHeap, []errors.Kind{errors.Exhausted, errors.DeadlineExceeded},
			[]string{"memory limit of 64 MiB", "limit of 1s", "already has 1 script calls running at once", "more than its share"}},
		{"a catastrophic regular expression", regex, []errors.Kind{errors.DeadlineExceeded}, []string{"limit of 1s"}},
	}
	check := func(t *testing.T, what string, err error, kinds []errors.Kind, says []string) {
		t.Helper()
		kindOK, saysOK := false, false
		for _, k := range kinds {
			kindOK = kindOK || errors.KindOf(err) == k
		}
		for _, s := range says {
			saysOK = saysOK || err != nil && strings.Contains(err.Error(), s)
		}
		if !kindOK || !saysOK {
			t.Fatalf("%s: %v (kind %v); want one of %v saying one of %q", what, err, errors.KindOf(err), kinds, says)
		}
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			calls := 1
			if a.expr == fillHeap {
				calls = 4
			}
			for _, role := range []string{"validator", "filter"} {
				cfg := threadsclient.CollectionConfig{Name: "notes", WriteValidator: "return " + a.expr}
				if role == "filter" {
					cfg = threadsclient.CollectionConfig{Name: "notes", ReadFilter: "return " + a.expr + " ? instance : null"}
				}
				if err := th.UpdateCollection(ctx, db, cfg); err != nil {
					t.Fatalf("set the %s: %v", role, err)
				}
				var wg sync.WaitGroup
				errs := make([]error, calls)
				for i := range calls {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if role == "validator" {
							errs[i] = th.Save(ctx, db, "notes", changed)
						} else {
							_, errs[i] = th.FindByID(ctx, db, "notes", id)
						}
					}()
				}
				wg.Wait()
				for i, err := range errs {
					check(t, fmt.Sprintf("%s call %d", role, i), err, a.kinds, a.says)
				}
				h.alive(t)
			}
		})
	}

	t.Run("not left busy", func(t *testing.T) {
		if err := th.UpdateCollection(ctx, db, threadsclient.CollectionConfig{Name: "notes", WriteValidator: "return " + regex}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			check(t, fmt.Sprintf("call %d", i), th.Save(ctx, db, "notes", changed), []errors.Kind{errors.DeadlineExceeded}, []string{"limit of 1s"})
		}
		// goja left each such call running for 15 s or more. Over two
		// seconds of wall time hubd now uses far less than a core.
		const window = 2 * time.Second
		before, start := cpuTime(t, h), time.Now()
		time.Sleep(window) // a measurement window, not a wait for state
		used, wall := cpuTime(t, h)-before, time.Since(start)
		t.Logf("hubd used %v of CPU in %v after the calls returned", used, wall)
		if used > wall/2 {
			t.Fatalf("hubd used %v of CPU in %v after the calls returned: work was left running", used, wall)
		}
	})

	// Stored data is unchanged, another tenant is served, memory stayed
	// bounded.
	if err := th.UpdateCollection(ctx, db, threadsclient.CollectionConfig{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	got, err := th.FindByID(ctx, db, "notes", id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(got, []byte(`"text":"original"`)) {
		t.Fatalf("the attacker's instance is now %s; want it unchanged", got)
	}
	other.mustBeServed(t)
	h.alive(t)
	now, peak := h.rss(t)
	t.Logf("hubd's RSS %d MiB, peak %d MiB", now>>20, peak>>20)
	if peak > 1<<30 {
		t.Fatalf("hubd's RSS peaked at %d MiB", peak>>20)
	}
}

// cpuTime returns the CPU time (user and system) the child hubd has used,
// from /proc/<pid>/stat.
func cpuTime(t *testing.T, h *target) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.Cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read hubd's stat: %v", err)
	}
	return statCPU(t, b)
}

// statFields returns the fields of a /proc stat file after the command
// name, which is in parentheses and may hold spaces: f[0] is field 3 of
// proc(5) (state), f[11] utime, f[12] stime, f[16] nice.
func statFields(stat []byte) []string {
	return strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
}

// statCPU returns the CPU time (user and system) a /proc stat file counts.
func statCPU(t testing.TB, stat []byte) time.Duration {
	t.Helper()
	f := statFields(stat)
	if len(f) < 13 {
		t.Fatalf("a stat file: %q", stat)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("a stat file: %q", stat)
	}
	// Clock ticks: 100 a second on Linux (USER_HZ).
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
