package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/selfhub/hub/errors"
)

// secret is 0x00..0x17 (24 bytes, the length of a real secret) in
// multibase base32.
const secret = "baaaqeayeaudaocajbifqydiob4ibceqtcqkrmfy"

// lowerBase32 is RFC 4648 base32, lower case, unpadded: the "b" multibase.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func TestSign(t *testing.T) {
	tests := []struct {
		name string
		msg  string
	}{
		{"toISOString date", "2030-01-02T03:04:05.006Z"},
		{"empty message", ""},
		{"other text", "hello, hub"},
	}
	rawKey, err := lowerBase32.DecodeString(strings.TrimPrefix(secret, "b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mac := hmac.New(sha256.New, rawKey)
			mac.Write([]byte(tt.msg))
			want := "b" + lowerBase32.EncodeToString(mac.Sum(nil))
			got, err := Sign(secret, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Sign(%q) = %s, want %s", tt.msg, got, want)
			}
		})
	}
}

// TestSignMatchesJS checks Sign against createAPISig from the pinned
// @textile/security 6.x, run once under Node 20 as
// createAPISig(secret, new Date(Date.UTC(2030,0,2,3,4,5,6))).
func TestSignMatchesJS(t *testing.T) {
	const (
		jsMsg = "2030-01-02T03:04:05.006Z"
		jsSig = "bgdrd6vdtdtevsbrsqb46tgr3cne35zdrshp736qezkrfnrma4rka"
	)
	ctx, err := WithAPISig(context.Background(), "bkey", secret, time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	if got := md.Get(apiSigMsgHeader); len(got) != 1 || got[0] != jsMsg {
		t.Errorf("sig msg = %q, want %q", got, jsMsg)
	}
	if got := md.Get(apiSigHeader); len(got) != 1 || got[0] != jsSig {
		t.Errorf("sig = %q, want %q", got, jsSig)
	}
}

func TestSignBadSecret(t *testing.T) {
	_, err := Sign("not multibase!", "msg")
	if !errors.Is(errors.Invalid, err) {
		t.Fatalf("Sign with a bad secret: got %v, want an Invalid error", err)
	}
	if _, err := WithAPIKey(context.Background(), "bkey", "not multibase!"); !errors.Is(errors.Invalid, err) {
		t.Fatalf("WithAPIKey with a bad secret: got %v, want an Invalid error", err)
	}
}

func TestSigMsgFormat(t *testing.T) {
	tests := []struct {
		name  string
		until time.Time
		want  string
	}{
		{"whole seconds keep three digits", time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC), "2030-05-06T07:08:09.000Z"},
		{"sub-millisecond is truncated", time.Date(2030, 5, 6, 7, 8, 9, 123999999, time.UTC), "2030-05-06T07:08:09.123Z"},
		{"other zones become UTC", time.Date(2030, 5, 6, 9, 8, 9, 0, time.FixedZone("CEST", 2*3600)), "2030-05-06T07:08:09.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := WithAPISig(context.Background(), "bkey", secret, tt.until)
			if err != nil {
				t.Fatal(err)
			}
			md, _ := metadata.FromOutgoingContext(ctx)
			if got := md.Get(apiSigMsgHeader); len(got) != 1 || got[0] != tt.want {
				t.Errorf("sig msg = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWithAPIKeyExpiry(t *testing.T) {
	before := time.Now()
	ctx, err := WithAPIKey(context.Background(), "bkey", secret)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	msg := md.Get(apiSigMsgHeader)
	if len(msg) != 1 {
		t.Fatalf("sig msg = %q, want one value", msg)
	}
	until, err := time.Parse(time.RFC3339Nano, msg[0])
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := before.Add(DefaultSignatureTTL-time.Second), time.Now().Add(DefaultSignatureTTL); until.Before(lo) || until.After(hi) {
		t.Errorf("signature valid until %v, want about %v from now", until, DefaultSignatureTTL)
	}
	sig, err := Sign(secret, msg[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := md.Get(apiSigHeader); len(got) != 1 || got[0] != sig {
		t.Errorf("sig = %q, want %q", got, sig)
	}
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name string
		with func(context.Context) context.Context
		want map[string]string
	}{
		{"session", func(ctx context.Context) context.Context { return WithSession(ctx, "sess") },
			map[string]string{"x-textile-session": "sess"}},
		{"org", func(ctx context.Context) context.Context { return WithOrg(ctx, "acme") },
			map[string]string{"x-textile-org": "acme"}},
		{"insecure API key has no signature", func(ctx context.Context) context.Context {
			ctx, _ = WithAPIKey(ctx, "bkey", "")
			return ctx
		}, map[string]string{"x-textile-api-key": "bkey"}},
		{"token", func(ctx context.Context) context.Context { return WithToken(ctx, "tok") },
			map[string]string{"authorization": "bearer tok"}},
		{"thread", func(ctx context.Context) context.Context { return WithThread(ctx, "bthread") },
			map[string]string{"x-textile-thread": "bthread"}},
		{"thread name", func(ctx context.Context) context.Context { return WithThreadName(ctx, "buckets") },
			map[string]string{"x-textile-thread-name": "buckets"}},
		{"session and org together", func(ctx context.Context) context.Context {
			return WithOrg(WithSession(ctx, "sess"), "acme")
		}, map[string]string{"x-textile-session": "sess", "x-textile-org": "acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, _ := metadata.FromOutgoingContext(tt.with(context.Background()))
			if len(md) != len(tt.want) {
				t.Errorf("metadata = %v, want %v", md, tt.want)
			}
			for k, v := range tt.want {
				if got := md.Get(k); len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestDial(t *testing.T) {
	if _, err := Dial(context.Background(), ""); !errors.Is(errors.Invalid, err) {
		t.Errorf("Dial(\"\") = %v, want an Invalid error", err)
	}
	conn, err := Dial(context.Background(), "127.0.0.1:3006")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
