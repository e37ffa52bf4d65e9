package buckets

import (
	"strings"
	"testing"
)

func TestRoleOf(t *testing.T) {
	b := Bucket{Metadata: map[string]Metadata{
		"":          {Roles: map[string]Role{"owner": RoleAdmin}},
		"docs":      {Roles: map[string]Role{"ann": RoleReader, AnyIdentity: RoleNone}},
		"docs/team": {Roles: map[string]Role{"ann": RoleWriter}},
		"pub":       {Roles: map[string]Role{AnyIdentity: RoleReader}},
	}}
	for _, tc := range []struct {
		name, who, path string
		want            Role
	}{
		{"root grant reaches everything", "owner", "docs/team/x", RoleAdmin},
		{"no grant", "bob", "docs", RoleNone},
		{"grant on the path", "ann", "docs", RoleReader},
		{"inherited downward", "ann", "docs/other/deep", RoleReader},
		{"highest along the ancestors", "ann", "docs/team/x", RoleWriter},
		{"not upward", "ann", "", RoleNone},
		{"not sideways", "ann", "pubx", RoleNone},
		{"star for everyone", "bob", "pub/a", RoleReader},
		{"star and own grant: the higher", "ann", "pub", RoleReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var segs []string
			if tc.path != "" {
				segs = strings.Split(tc.path, "/")
			}
			if got := b.RoleOf(tc.who, segs); got != tc.want {
				t.Errorf("RoleOf(%q, %q) = %v, want %v", tc.who, tc.path, got, tc.want)
			}
		})
	}
}

func TestCheckRoles(t *testing.T) {
	for name, roles := range map[string]map[string]Role{
		"not a key":     {"nobody": RoleReader},
		"role too high": {AnyIdentity: 4},
		"negative role": {AnyIdentity: -1},
	} {
		if err := CheckRoles(roles); err == nil {
			t.Errorf("%s: CheckRoles(%v) accepted", name, roles)
		}
	}
	if err := CheckRoles(map[string]Role{AnyIdentity: RoleAdmin}); err != nil {
		t.Errorf("CheckRoles(*: Admin): %v", err)
	}
}
