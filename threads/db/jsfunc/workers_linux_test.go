package jsfunc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadNice returns the calling OS thread's thread ID and nice value, read
// from /proc as ps would.
func threadNice(t *testing.T) (tid, nice int) {
	tid = unix.Gettid()
	st, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		t.Error(err)
		return tid, 0
	}
	// Fields after the command name, which ends at the last ')': nice is
	// field 19 of proc(5).
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	nice, err = strconv.Atoi(f[16])
	if err != nil {
		t.Error(err)
	}
	return tid, nice
}

// TestWorkersNiced: calls run on threads of the nice asked for (or the
// process's own, when that is already lower), and such a thread ends with
// its worker, so that no goroutine of the hub's other work ever runs on
// it.
func TestWorkersNiced(t *testing.T) {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	own := 20 - prio
	for _, c := range []struct {
		name       string
		nice, want int
	}{
		{"lowered", 7, max(7, own)},
		{"kept", 0, own},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorkers(1, c.nice)
			w.idle = time.Millisecond
			type seen struct{ tid, nice int }
			got := make(chan seen, 1)
			w.do(func() {
				tid, nice := threadNice(t)
				got <- seen{tid, nice}
			})
			s := <-got
			if s.nice != c.want {
				t.Fatalf("a call ran at nice %d, want %d", s.nice, c.want)
			}
			// The worker ends once idle, and its thread with it; but the
			// Go runtime never ends the process's main thread: a
			// goroutine that ends locked to it leaves it asleep for good,
			// running nothing else, which is as good.
			if s.tid == os.Getpid() {
				t.Logf("the call ran on the main thread, which the Go runtime parks for good rather than ends")
				return
			}
			task := fmt.Sprintf("/proc/self/task/%d", s.tid)
			deadline := time.Now().Add(time.Minute)
			for {
				if _, err := os.Stat(task); os.IsNotExist(err) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the worker's thread %d still runs a minute after its last call", s.tid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestWorkersBounded: at most n calls run at once; the others wait for a
// worker and then run, on the same threads.
func TestWorkersBounded(t *testing.T) {
	const n, calls = 2, 6
	w := newWorkers(n, 5)
	var (
		running, most atomic.Int32
		tids          sync.Map
		wg            sync.WaitGroup
	)
	gate := make(chan struct{})
	for range calls {
		wg.Add(1)
		go w.do(func() {
			defer wg.Done()
			r := running.Add(1)
			for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
			}
			tids.Store(unix.Gettid(), true)
			<-gate
			running.Add(-1)
		})
	}
	// Let the first n in; the rest cannot start until they end.
	deadline := time.Now().Add(time.Minute)
	for running.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d calls started within a minute", running.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	if m := most.Load(); m > n {
		t.Fatalf("%d calls ran at once on %d workers", m, n)
	}
	threads := 0
	tids.Range(func(any, any) bool { threads++; return true })
	if threads > n {
		t.Fatalf("calls ran on %d threads; the workers have %d", threads, n)
	}
}

// TestThreadCPU: threadCPU reads another thread's CPU time, which grows
// while that thread computes: what tells a call starved of CPU from one
// stuck in a built-in.
func TestThreadCPU(t *testing.T) {
	w := newWorkers(1, 0)
	type spun struct {
		tid        int
		start, end time.Duration
	}
	got := make(chan spun, 1)
	w.do(func() {
		tid := threadID()
		start, ok := threadCPU(tid)
		if !ok {
			t.Error("threadCPU cannot read the worker's own thread")
			got <- spun{}
			return
		}
		deadline := time.Now().Add(time.Minute)
		now := start
		for now-start < 20*time.Millisecond && time.Now().Before(deadline) {
			now, _ = threadCPU(tid)
		}
		got <- spun{tid, start, now}
	})
	s := <-got
	if s.end-s.start < 20*time.Millisecond {
		t.Fatalf("a worker that computed for a minute of wall time used %v of CPU, by threadCPU", s.end-s.start)
	}
	// Read from another thread, while the worker still lives.
	if cpu, ok := threadCPU(s.tid); !ok || cpu < s.end {
		t.Fatalf("the worker's CPU time read from another thread: %v, %v; want at least %v", cpu, ok, s.end)
	}
}
