package jsfunc

import (
	"runtime"
	"time"
)

// workerIdle is how long a worker waits for its next call before it ends,
// and its thread with it: a hub whose scripts are quiet keeps no threads
// for them.
const workerIdle = 10 * time.Second

// workers runs calls on at most n goroutines, each locked to an OS thread
// of its own whose scheduling priority is lowered to nice (Linux; see
// lowerThread). Calls are pure computation: on their own threads, at a
// lower priority, the kernel runs the hub's other work (requests, the
// network, the Go runtime's own threads) first whenever both are ready,
// instead of sharing a core with a script for up to the Go scheduler's
// 10 ms time slice. A worker never unlocks its thread, so the lowered
// thread ends with the worker and never runs other goroutines. Workers
// start when calls come and end after workerIdle without one.
type workers struct {
	nice  int
	idle  time.Duration // how long a worker waits for a call before it ends; workerIdle but in tests
	jobs  chan func()   // unbuffered: a send succeeds when a worker is idle
	slots chan struct{} // a token per worker alive; capacity n
}

// newWorkers returns workers of at most n threads at nice.
func newWorkers(n, nice int) *workers {
	return &workers{nice: nice, idle: workerIdle, jobs: make(chan func()), slots: make(chan struct{}, n)}
}

// do runs job on a worker: an idle one, a new one while there are fewer
// than n, or else the first to become idle. job must not panic.
func (w *workers) do(job func()) {
	select {
	case w.jobs <- job:
		return
	default:
	}
	select {
	case w.jobs <- job:
	case w.slots <- struct{}{}:
		go w.work(job)
	}
}

// work is a worker: it runs job, then the jobs sent to it until it was
// idle for w.idle.
func (w *workers) work(job func()) {
	defer func() { <-w.slots }()
	// Never unlocked: the goroutine's end ends the thread, lowered
	// priority and all.
	runtime.LockOSThread()
	// A thread that cannot be lowered (a platform without per-thread
	// priorities, or a hub already niced lower) runs at the hub's own:
	// scripts still keep off the request threads' Ps.
	_ = lowerThread(w.nice)
	idle := time.NewTimer(w.idle)
	defer idle.Stop()
	for {
		job()
		idle.Reset(w.idle)
		select {
		case job = <-w.jobs:
		case <-idle.C:
			return
		}
	}
}
