package jsfunc

import "golang.org/x/sys/unix"

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
