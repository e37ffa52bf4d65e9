package jsfunc

import (
	"context"
	"sync"
	"time"

	"github.com/selfhub/hub/errors"
)

// The reasons acquire gives for finding no place.
var (
	errTenantBusy = errors.New("tenant busy")
	errHubBusy    = errors.New("hub busy")
)

// budget bounds the calls running at once: per tenant, and in all. A place
// is held from the start of a call to the end of its goroutine, which may
// be after its caller got its answer (see function.run).
type budget struct {
	perTenant int
	all       chan struct{} // a token per running call

	// mu guards tenants.
	mu      sync.Mutex
	tenants map[string]*tenantSlots // only tenants with calls running or waiting
}

// tenantSlots are one tenant's places.
type tenantSlots struct {
	running chan struct{} // a token per running call of the tenant
	users   int           // calls holding or waiting for a place; guarded by budget.mu
}

func newBudget(perTenant, all int) *budget {
	return &budget{perTenant: perTenant, all: make(chan struct{}, all), tenants: map[string]*tenantSlots{}}
}

// acquire waits for a place for a call of tenant, at most wait and while
// ctx lasts, and returns the function that gives it back, to be called once. It returns
// errTenantBusy or errHubBusy when wait passed first, or ctx's error.
func (b *budget) acquire(ctx context.Context, tenant string, wait time.Duration) (release func(), err error) {
	b.mu.Lock()
	t := b.tenants[tenant]
	if t == nil {
		t = &tenantSlots{running: make(chan struct{}, b.perTenant)}
		b.tenants[tenant] = t
	}
	t.users++
	b.mu.Unlock()
	leave := func() {
		b.mu.Lock()
		if t.users--; t.users == 0 {
			delete(b.tenants, tenant)
		}
		b.mu.Unlock()
	}

	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case t.running <- struct{}{}:
	case <-timer.C:
		leave()
		return nil, errTenantBusy
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
	select {
	case b.all <- struct{}{}:
	case <-timer.C:
		<-t.running
		leave()
		return nil, errHubBusy
	case <-ctx.Done():
		<-t.running
		leave()
		return nil, ctx.Err()
	}
	return func() {
		<-b.all
		<-t.running
		leave()
	}, nil
}
