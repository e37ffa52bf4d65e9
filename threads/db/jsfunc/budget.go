package jsfunc

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/selfhub/hub/errors"
)

// The reasons acquire gives for finding no place.
var (
	errTenantBusy  = errors.New("tenant busy")
	errTenantShare = errors.New("tenant over its share")
	errHubBusy     = errors.New("hub busy")
)

// budget admits calls. It bounds the calls running at once, per tenant
// and in all, and the engine time each tenant uses: a tenant whose calls
// used more than its share lately waits until its use falls back under
// it. When places are short, the waiting call of the tenant that used the
// least goes first, so a tenant whose calls burn their whole time limit
// back to back cannot crowd out one whose calls are short.
//
// A tenant's use is the CPU time its calls' worker threads spent on them,
// from setting up a runtime to the call's end, which may be after its
// caller got its answer (see function.run), summed with exponential decay
// over the window: a tenant that keeps r cores busy settles at a use of r
// times the window, so a limit of share times the window lets it keep
// share cores busy on average, in bursts of up to a window's worth. The
// decay, rather than slots of a sliding window, tells exactly when a
// waiting tenant's use falls under the limit.
type budget struct {
	perTenant, all int
	limit          float64       // seconds of use under which a tenant's call may start
	window         time.Duration // time constant of the decay
	now            func() time.Time

	// mu guards the fields below, and every tenantUse and waiter.
	mu      sync.Mutex
	running int
	tenants map[string]*tenantUse
	waiters []*waiter   // in arrival order
	pruneAt int         // prune idle tenants when the map reaches this size
	retry   *time.Timer // runs dispatch when a waiter over its share falls under it
}

// tenantUse is one tenant's calls and use.
type tenantUse struct {
	running, waiting int
	used             float64   // seconds of use, decayed to at
	at               time.Time // when used was last decayed
}

// waiter is a call waiting for a place.
type waiter struct {
	t       *tenantUse
	ready   chan struct{} // closed when granted
	granted bool
}

// minPruneAt is the smallest map of tenants that is pruned.
const minPruneAt = 64

// newBudget returns a budget of perTenant calls of one tenant and all in
// all at once, in which a tenant may start a call while it used less than
// share cores on average over window.
func newBudget(perTenant, all int, share float64, window time.Duration) *budget {
	return &budget{perTenant: perTenant, all: all, limit: share * window.Seconds(), window: window, now: time.Now,
		tenants: map[string]*tenantUse{}, pruneAt: minPruneAt}
}

// use returns t's use at now.
func (b *budget) use(t *tenantUse, now time.Time) float64 {
	if d := now.Sub(t.at); d > 0 {
		t.used *= math.Exp(-d.Seconds() / b.window.Seconds())
		t.at = now
	}
	return t.used
}

// acquire waits for a place for a call of tenant, at most wait and while
// ctx lasts, and returns the function that gives it back with the time
// the call used, to be called once. It returns errTenantShare, errTenantBusy or errHubBusy when wait
// passed first, or ctx's error.
func (b *budget) acquire(ctx context.Context, tenant string, wait time.Duration) (release func(used time.Duration), err error) {
	b.mu.Lock()
	t := b.tenants[tenant]
	if t == nil {
		t = &tenantUse{at: b.now()}
		b.tenants[tenant] = t
	}
	w := &waiter{t: t, ready: make(chan struct{})}
	t.waiting++
	b.waiters = append(b.waiters, w)
	b.dispatch()
	b.mu.Unlock()

	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		var canceled bool
		select {
		case <-w.ready:
			return b.releaser(w), nil
		case <-deadline.C:
		case <-ctx.Done():
			canceled = true
		}
		b.mu.Lock()
		if !w.granted && !canceled {
			// The wait may have ended as the tenant's use fell under
			// its share, before the timer that lets it in: look once
			// more, so that a call is refused only for a reason that
			// still holds.
			b.dispatch()
		}
		if w.granted {
			// Granted as the wait ended: take the place, unless ctx ended.
			b.mu.Unlock()
			if canceled {
				b.releaser(w)(0)
				return nil, ctx.Err()
			}
			return b.releaser(w), nil
		}
		switch {
		case canceled:
			err = ctx.Err()
		case b.use(t, b.now()) >= b.limit:
			err = errTenantShare
		case t.running >= b.perTenant:
			err = errTenantBusy
		default:
			err = errHubBusy
		}
		b.remove(w)
		b.mu.Unlock()
		return nil, err
	}
}

// underLimitIn returns how long until t's use falls under the limit, 0 if
// it is under it.
func (b *budget) underLimitIn(t *tenantUse, now time.Time) time.Duration {
	used := b.use(t, now)
	if used < b.limit {
		return 0
	}
	// A little past the moment, so that the next look finds it under.
	return time.Duration(b.window.Seconds()*math.Log(used/b.limit)*float64(time.Second)) + time.Millisecond
}

// dispatch grants places to waiters while there are places: each time to
// the waiter of the tenant that used the least (the first to come among
// equals) whose tenant is under its share and its concurrency. A waiter
// over its share is let in by nobody's release, so dispatch runs again
// when the first such falls under it.
func (b *budget) dispatch() {
	now := b.now()
	for b.running < b.all {
		var (
			best    *waiter
			bestUse float64
		)
		for _, w := range b.waiters {
			if w.t.running >= b.perTenant {
				continue
			}
			if u := b.use(w.t, now); u < b.limit && (best == nil || u < bestUse) {
				best, bestUse = w, u
			}
		}
		if best == nil {
			break
		}
		b.remove(best)
		best.t.running++
		b.running++
		best.granted = true
		close(best.ready)
	}
	var next time.Duration
	for _, w := range b.waiters {
		if d := b.underLimitIn(w.t, now); d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	switch {
	case next > 0 && b.retry == nil:
		b.retry = time.AfterFunc(next, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.dispatch()
		})
	case next > 0:
		b.retry.Reset(next)
	case b.retry != nil:
		b.retry.Stop()
	}
}

// remove takes w off the waiters.
func (b *budget) remove(w *waiter) {
	for i, o := range b.waiters {
		if o == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	w.t.waiting--
}

// releaser returns the function that gives w's place back and charges
// its tenant the time its call used. CPU time, not the wall time the
// place was held: on a busy machine a call waits for a core longer, and
// that wait is not the tenant's doing.
func (b *budget) releaser(w *waiter) func(used time.Duration) {
	return func(used time.Duration) {
		b.mu.Lock()
		defer b.mu.Unlock()
		now := b.now()
		w.t.used = b.use(w.t, now) + used.Seconds()
		w.t.running--
		b.running--
		b.dispatch()
		if len(b.tenants) >= b.pruneAt {
			b.prune(now)
		}
	}
}

// prune forgets the tenants with no call running or waiting whose use has
// decayed to almost nothing (a hundredth of the limit, some five windows
// after their last call), so that the map holds the tenants of the last
// few windows, not every tenant ever seen.
func (b *budget) prune(now time.Time) {
	for name, t := range b.tenants {
		if t.running == 0 && t.waiting == 0 && b.use(t, now) < b.limit/100 {
			delete(b.tenants, name)
		}
	}
	b.pruneAt = max(minPruneAt, 2*len(b.tenants))
}
