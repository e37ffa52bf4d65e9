package jsfunc

import (
	"time"

	"golang.org/x/sys/unix"
)

// lowerThread sets the calling OS thread's nice value to nice, unless it
// is already at least that. On Linux a nice value belongs to a thread:
// setpriority with a thread ID changes that thread only.
func lowerThread(nice int) error {
	if nice <= 0 {
		return nil
	}
	tid := unix.Gettid()
	// The system call answers 20 - nice, so that it is never negative.
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return err
	}
	if 20-prio >= nice {
		return nil
	}
	return unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
}

// threadID returns the calling OS thread's ID, for threadCPU.
func threadID() int { return unix.Gettid() }

// threadCPU returns the CPU time thread tid of this process has used, and
// whether it could be read. It reads the thread's CPU clock, whose ID the
// kernel derives from the thread ID (what pthread_getcpuclockid returns:
// the ID's complement shifted left by 3, marked per-thread, 4, and of
// scheduler time, 2).
func threadCPU(tid int) (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^tid<<3|4|2), &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
