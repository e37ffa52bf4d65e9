package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/multiformats/go-multibase"

	"github.com/selfhub/hub/errors"
)

// sign computes the wire signature the way the JS clients do.
func sign(t testing.TB, secret, msg string) string {
	t.Helper()
	_, key, err := multibase.Decode(secret)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	s, err := multibase.Encode(multibase.Base32, m.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignature(t *testing.T) {
	_, secret, err := newKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := newKeyPair()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const maxAhead = 24 * time.Hour
	future := now.Add(time.Hour).Format("2006-01-02T15:04:05.000Z07:00")
	past := now.Add(-time.Second).Format(time.RFC3339)
	far := now.Add(maxAhead + time.Minute).Format(time.RFC3339)
	cases := []struct {
		name      string
		sig, msg  string
		kind      errors.Kind // Other: accepted
		msgSubstr string
	}{
		{"valid JS toISOString date", sign(t, secret, future), future, errors.Other, ""},
		{"expired", sign(t, secret, past), past, errors.Unauthenticated, "expired"},
		{"too far ahead", sign(t, secret, far), far, errors.Unauthenticated, "more than"},
		{"wrong secret", sign(t, other, future), future, errors.Unauthenticated, "does not match"},
		{"signature of another message", sign(t, secret, past), future, errors.Unauthenticated, "does not match"},
		{"missing signature", "", future, errors.Unauthenticated, "x-textile-api-sig"},
		{"missing message", sign(t, secret, future), "", errors.Unauthenticated, "x-textile-api-sig-msg"},
		{"date not RFC 3339", sign(t, secret, "tomorrow"), "tomorrow", errors.Invalid, "RFC 3339"},
		{"signature not multibase", "!!!", future, errors.Invalid, "multibase"},
		{"signature too short", "bmfrgg", future, errors.Invalid, "HMAC-SHA256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ParseSignature(c.sig, c.msg)
			if err == nil {
				err = s.Verify(secret, now, maxAhead)
			}
			if c.kind == errors.Other {
				if err != nil {
					t.Fatalf("refused a good signature: %v", err)
				}
				return
			}
			if !errors.Is(c.kind, err) {
				t.Fatalf("got %v (kind %v), want kind %v", err, errors.KindOf(err), c.kind)
			}
			if !strings.Contains(err.Error(), c.msgSubstr) {
				t.Errorf("message %q does not say %q", err, c.msgSubstr)
			}
		})
	}
}

// FuzzParseSignature checks that no header value panics the parser and that
// whatever parses is a 32-byte MAC and a real date.
func FuzzParseSignature(f *testing.F) {
	f.Add("bnbswy3dpeb3w64tmmqqq", "2030-01-02T03:04:05.000Z")
	f.Add("", "")
	f.Add("zQmFoo", "2030-01-02T03:04:05Z")
	f.Add("b"+strings.Repeat("a", 52), "2030-01-02T03:04:05+01:00")
	f.Fuzz(func(t *testing.T, sig, msg string) {
		s, err := ParseSignature(sig, msg)
		if err != nil {
			if k := errors.KindOf(err); k != errors.Invalid && k != errors.Unauthenticated {
				t.Fatalf("kind %v for bad input", k)
			}
			return
		}
		if len(s.MAC) != sha256.Size || s.Until.IsZero() {
			t.Fatalf("accepted %q/%q as %+v", sig, msg, s)
		}
		_ = s.Verify("bmfrggzdfmztwq2lknnwg23tnfyhg2lone", s.Until, time.Hour)
	})
}
