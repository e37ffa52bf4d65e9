package auth

import (
	"testing"

	"github.com/selfhub/hub"
)

func TestRevocationCovers(t *testing.T) {
	dev := hub.Principal{Kind: hub.DeveloperPrincipal, Account: "dev", Member: "dev", Session: "s1"}
	asOrg := hub.Principal{Kind: hub.OrgPrincipal, Account: "org", Member: "dev", Session: "s1"}
	key := hub.Principal{Kind: hub.DeveloperPrincipal, Account: "dev", APIKey: "k1"}
	user := hub.Principal{Kind: hub.UserPrincipal, Account: "dev", Identity: "u", APIKey: "k2"}
	orgUser := hub.Principal{Kind: hub.UserPrincipal, Account: "org", Identity: "u", APIKey: "k3"}
	for _, tc := range []struct {
		name string
		r    Revocation
		p    hub.Principal
		want bool
	}{
		{"invalidated key", Revocation{APIKey: "k2"}, user, true},
		{"another key", Revocation{APIKey: "k2"}, key, false},
		{"ended session", Revocation{Session: "s1"}, asOrg, true},
		{"another session", Revocation{Session: "s2"}, dev, false},
		{"member left: as the org", Revocation{Account: "org", Member: "dev"}, asOrg, true},
		{"member left: the org's own key", Revocation{Account: "org", Member: "dev"}, orgUser, false},
		{"member left: as themself", Revocation{Account: "org", Member: "dev"}, dev, false},
		{"org removed: its user", Revocation{Account: "org"}, orgUser, true},
		{"org removed: a member as the org", Revocation{Account: "org"}, asOrg, true},
		{"account destroyed: its key", Revocation{Account: "dev"}, key, true},
		{"account destroyed: acting as an org", Revocation{Account: "dev"}, asOrg, true},
		{"account destroyed: its app's user", Revocation{Account: "dev"}, user, true},
		{"account destroyed: another org's user", Revocation{Account: "dev"}, orgUser, false},
		{"empty revocation", Revocation{}, hub.Principal{}, false},
	} {
		if got := tc.r.Covers(tc.p); got != tc.want {
			t.Errorf("%s: Covers = %v, want %v", tc.name, got, tc.want)
		}
	}
}
