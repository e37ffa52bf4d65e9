package threadsclient

import "time"

// SetClock makes a's clock now, for tests that decide when it thinks its
// token is due for renewal.
func SetClock(a *UserAuth, now func() time.Time) { a.now = now }
