package client

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"time"

	"github.com/multiformats/go-multibase"
	"google.golang.org/grpc/metadata"

	"github.com/selfhub/hub/errors"
)

// The request metadata keys the server reads (docs/protocol.md,
// "Credentials in request metadata"). gRPC metadata keys are lower case on
// the wire.
const (
	sessionHeader    = "x-textile-session"
	orgHeader        = "x-textile-org"
	apiKeyHeader     = "x-textile-api-key"
	apiSigHeader     = "x-textile-api-sig"
	apiSigMsgHeader  = "x-textile-api-sig-msg"
	threadHeader     = "x-textile-thread"
	threadNameHeader = "x-textile-thread-name"
	authHeader       = "authorization"
)

// DefaultSignatureTTL is how far ahead WithAPIKey dates the signatures it
// makes. An hour lets one context serve a long command, and stays within
// the cap hubd puts on how far ahead a signature may be dated.
const DefaultSignatureTTL = time.Hour

// sigMsgLayout formats a signature expiry the way JavaScript's
// Date.toISOString does (UTC, milliseconds, "Z"), which is what the
// published clients send, so both kinds of client produce the same bytes.
const sigMsgLayout = "2006-01-02T15:04:05.000Z"

// WithSession returns ctx carrying a developer session ID, as returned by
// Signup or Signin.
func WithSession(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, sessionHeader, id)
}

// WithOrg returns ctx acting as the org with the given slug. The session's
// account must be a member of it.
func WithOrg(ctx context.Context, slug string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, orgHeader, slug)
}

// WithAPIKey returns ctx carrying an API key. When secret is not empty (a
// secure key) it also carries a signature that expires DefaultSignatureTTL
// from now; it fails with Invalid if secret is not a multibase string.
func WithAPIKey(ctx context.Context, key, secret string) (context.Context, error) {
	if secret == "" {
		return metadata.AppendToOutgoingContext(ctx, apiKeyHeader, key), nil
	}
	return WithAPISig(ctx, key, secret, time.Now().Add(DefaultSignatureTTL))
}

// WithAPISig returns ctx carrying an API key and a signature of the key's
// secret that is valid until the given time. It fails with Invalid if
// secret is not a multibase string.
func WithAPISig(ctx context.Context, key, secret string, until time.Time) (context.Context, error) {
	msg := until.UTC().Format(sigMsgLayout)
	sig, err := Sign(secret, msg)
	if err != nil {
		return ctx, err
	}
	return metadata.AppendToOutgoingContext(ctx,
		apiKeyHeader, key,
		apiSigMsgHeader, msg,
		apiSigHeader, sig,
	), nil
}

// Sign returns the signature hubd expects in x-textile-api-sig for msg:
// multibase base32 of HMAC-SHA256 keyed with the multibase-decoded secret.
// It is the same computation as createAPISig in @textile/security.
func Sign(secret string, msg string) (string, error) {
	const op errors.Op = "client.Sign"
	_, key, err := multibase.Decode(secret)
	if err != nil {
		return "", errors.Errorf(op, errors.Invalid, "API secret is not a multibase string (%v); copy it again from hub keys ls", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msg))
	sig, err := multibase.Encode(multibase.Base32, mac.Sum(nil))
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return sig, nil
}

// WithToken returns ctx carrying a user identity token, as returned by the
// threads GetToken call, in the authorization header.
func WithToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, authHeader, "bearer "+token)
}

// WithThread returns ctx naming the thread (DB) a call applies to, in its
// string form.
func WithThread(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, threadHeader, id)
}

// WithThreadName returns ctx naming a thread (DB) that a call creates.
func WithThreadName(ctx context.Context, name string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, threadNameHeader, name)
}
