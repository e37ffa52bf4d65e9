package cli

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/selfhub/hub"
)

// decode parses JSON output into generic values, so the tests see the
// exact keys a script sees.
func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	return v
}

func TestKeyJSONShape(t *testing.T) {
	tests := []struct {
		name string
		key  hub.APIKey
		want map[string]any
	}{
		{"secure account key",
			hub.APIKey{Key: "bk", Secret: "bs", Type: hub.AccountKey, Secure: true, Valid: true, Owner: "bowner"},
			map[string]any{"key": "bk", "secret": "bs", "type": "account", "secure": true}},
		{"insecure user key",
			hub.APIKey{Key: "bk", Secret: "bs", Type: hub.UserKey},
			map[string]any{"key": "bk", "secret": "bs", "type": "user", "secure": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeJSON(&b, toKeyJSON(tt.key)); err != nil {
				t.Fatal(err)
			}
			if got := decode(t, b.Bytes()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want exactly %v", got, tt.want)
			}
		})
	}
}

func TestListJSONShape(t *testing.T) {
	created := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		print func(a *app) error
		want  any
	}{
		{"no keys is an empty array", func(a *app) error { return printKeys(a, nil, true) }, []any{}},
		{"keys", func(a *app) error {
			return printKeys(a, []hub.APIKey{{Key: "bk", Secret: "bs", Type: hub.UserKey, Secure: true}}, true)
		}, []any{map[string]any{"key": "bk", "secret": "bs", "type": "user", "secure": true, "valid": false}}},
		{"no orgs is an empty array", func(a *app) error { return printOrgs(a, nil, true) }, []any{}},
		{"orgs", func(a *app) error {
			return printOrgs(a, []hub.Account{
				{Key: "bo", Name: "Acme", Slug: "acme", CreatedAt: created,
					Members: []hub.Member{{Key: "bm", Username: "alice", Role: hub.RoleOwner}}},
				{Key: "bp", Name: "Bare", Slug: "bare"},
			}, true)
		}, []any{
			map[string]any{"key": "bo", "name": "Acme", "slug": "acme", "created_at": "2030-01-02T03:04:05Z",
				"members": []any{map[string]any{"key": "bm", "username": "alice", "role": "owner"}}},
			map[string]any{"key": "bp", "name": "Bare", "slug": "bare", "members": []any{}},
		}},
		{"members", func(a *app) error {
			return printMembers(a, []hub.Member{{Key: "bm", Username: "bob", Role: hub.RoleMember}}, true)
		}, []any{map[string]any{"key": "bm", "username": "bob", "role": "member"}}},
		{"no members is an empty array", func(a *app) error { return printMembers(a, nil, true) }, []any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			a := newApp(nil, &out, &bytes.Buffer{}, nil)
			if err := tt.print(a); err != nil {
				t.Fatal(err)
			}
			if got := decode(t, out.Bytes()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	err := writeTable(&b, []string{"KEY", "TYPE"}, [][]string{{"bshort", "account"}, {"blongerkey", "user"}})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"KEY         TYPE",
		"bshort      account",
		"blongerkey  user",
		"",
	}, "\n")
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}
