//go:build !linux

package jsfunc

import (
	"time"

	"github.com/selfhub/hub/errors"
)

// lowerThread reports that this platform's threads keep the process's
// priority: elsewhere setpriority changes the whole process, which would
// lower the requests with the scripts.
func lowerThread(nice int) error {
	if nice <= 0 {
		return nil
	}
	return errors.New("jsfunc: per-thread priorities are only set on Linux")
}

// threadID returns 0: threads' CPU time is read on Linux only.
func threadID() int { return 0 }

// threadCPU reports that a thread's CPU time cannot be read here.
func threadCPU(int) (time.Duration, bool) { return 0, false }
