package abuse

import "testing"

// TestTwoTenantsServed is the suite's baseline: two tenants of one hubd are
// each served end to end, so a failure of mustBeServed in an attack test
// is the attack's doing.
func TestTwoTenantsServed(t *testing.T) {
	h := startHub(t)
	a, b := newTenant(t, h, "alice"), newTenant(t, h, "bob")
	a.mustBeServed(t)
	b.mustBeServed(t)
	h.alive(t)
	if now, peak := h.rss(t); now <= 0 || peak < now {
		t.Fatalf("hubd's RSS %d, peak %d: /proc was not read", now, peak)
	}
}
