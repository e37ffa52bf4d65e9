package auth

import (
	"strings"
	"testing"

	"github.com/selfhub/hub/errors"
)

func headers(m map[string][]string) func(string) []string {
	return func(k string) []string { return m[k] }
}

func TestParseCredentials(t *testing.T) {
	cases := []struct {
		name string
		in   map[string][]string
		want Credentials
		kind errors.Kind // Other: accepted
	}{
		{"nothing", nil, Credentials{}, errors.Other},
		{"session and org", map[string][]string{HeaderSession: {"s1"}, HeaderOrg: {"acme"}}, Credentials{Session: "s1", Org: "acme"}, errors.Other},
		{"key, signature and token", map[string][]string{HeaderAPIKey: {"k"}, HeaderAPISig: {"sig"}, HeaderAPISigMsg: {"m"}, HeaderAuthorization: {"Bearer  tok "}},
			Credentials{APIKey: "k", Sig: "sig", SigMsg: "m", Token: "tok"}, errors.Other},
		{"repeated header", map[string][]string{HeaderAPIKey: {"a", "b"}}, Credentials{}, errors.Invalid},
		{"oversized header", map[string][]string{HeaderSession: {strings.Repeat("x", maxHeaderLen+1)}}, Credentials{}, errors.Invalid},
		{"authorization not bearer", map[string][]string{HeaderAuthorization: {"Basic abc"}}, Credentials{}, errors.Invalid},
		{"bearer without token", map[string][]string{HeaderAuthorization: {"bearer "}}, Credentials{}, errors.Invalid},
		{"signature without key", map[string][]string{HeaderAPISig: {"sig"}}, Credentials{}, errors.Invalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseCredentials(headers(c.in))
			if c.kind != errors.Other {
				if !errors.Is(c.kind, err) {
					t.Fatalf("got %v, want kind %v", err, c.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// FuzzParseCredentials checks that no header combination panics the parser
// and that every refusal is an Invalid error.
func FuzzParseCredentials(f *testing.F) {
	f.Add("session", "org", "key", "sig", "2030-01-01T00:00:00Z", "bearer token")
	f.Add("", "", "", "", "", "")
	f.Add("", "", "", "sig", "", "Bearer")
	f.Add("s", "", "k", "", "", "basic x")
	f.Fuzz(func(t *testing.T, session, org, key, sig, msg, authz string) {
		m := map[string][]string{}
		for name, v := range map[string]string{HeaderSession: session, HeaderOrg: org, HeaderAPIKey: key, HeaderAPISig: sig, HeaderAPISigMsg: msg, HeaderAuthorization: authz} {
			if v != "" {
				m[name] = []string{v}
			}
		}
		c, err := ParseCredentials(headers(m))
		if err != nil {
			if !errors.Is(errors.Invalid, err) {
				t.Fatalf("kind %v for bad input", errors.KindOf(err))
			}
			return
		}
		if c.APIKey == "" && (c.Sig != "" || c.SigMsg != "") {
			t.Fatalf("accepted a signature without a key: %+v", c)
		}
	})
}
