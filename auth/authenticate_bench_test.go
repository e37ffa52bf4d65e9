package auth

import (
	"context"
	"testing"
)

// benchAuth measures Authenticate for one kind of credential against the
// real pebble-backed store.
func benchAuth(b *testing.B, creds func(b *testing.B, f *fixture) Credentials, req Requirement) {
	f := newFixture(b)
	c := creds(b, f)
	ctx := context.Background()
	if _, err := f.s.Authenticate(ctx, c, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.s.Authenticate(ctx, c, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthSecureKey: key lookup plus HMAC signature and date checks.
func BenchmarkAuthSecureKey(b *testing.B) {
	benchAuth(b, func(b *testing.B, f *fixture) Credentials { return f.signed(b, f.devAcct) }, Authenticated)
}

// BenchmarkAuthSession: session lookup and expiry check.
func BenchmarkAuthSession(b *testing.B) {
	benchAuth(b, func(b *testing.B, f *fixture) Credentials { return Credentials{Session: f.aliceSess.ID} }, SessionOnly)
}

// BenchmarkAuthSessionOrg: session lookup plus org membership.
func BenchmarkAuthSessionOrg(b *testing.B) {
	benchAuth(b, func(b *testing.B, f *fixture) Credentials {
		return Credentials{Session: f.aliceSess.ID, Org: f.org.Slug}
	}, SessionOnly)
}

// BenchmarkAuthToken: a secure user group key plus the user's token (an
// Ed25519 JWT verification).
func BenchmarkAuthToken(b *testing.B) {
	benchAuth(b, func(b *testing.B, f *fixture) Credentials {
		c := f.signed(b, f.devUser)
		c.Token = f.devToken
		return c
	}, Authenticated)
}

// BenchmarkAuthTokenFirstUse is BenchmarkAuthToken with the verified-token
// cache emptied before every call: what a token's first request costs.
func BenchmarkAuthTokenFirstUse(b *testing.B) {
	f := newFixture(b)
	c := f.signed(b, f.devUser)
	c.Token = f.devToken
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.s.tokens.verified.Purge()
		if _, err := f.s.Authenticate(ctx, c, Authenticated); err != nil {
			b.Fatal(err)
		}
	}
}
