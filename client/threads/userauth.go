package threadsclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/client"
)

// UserAuth makes every call on a connection act as one app user: it
// attaches the app's API key (signed afresh on each call, for a secure
// key) and the user's token, and keeps the token current. Tokens expire
// (hubd's --token-ttl, a day by default), and UserAuth holds the
// identity's private key, so it gets a new token with GetToken by itself:
// when three quarters of the token's life have passed, and once more when
// the hub refuses a unary call because its token expired (a refused call
// did nothing, so it is sent again, once). A long-lived client keeps
// working without any action of its user:
//
//	auth := threadsclient.NewUserAuth(key, secret, priv)
//	conn, err := client.Dial(ctx, addr, auth.DialOptions()...)
//	tc := threadsclient.New(conn) // calls carry no credentials of their own
//
// Calls on such a connection must not carry a key or token in their
// context. A stream is not sent again (some of its messages may have been
// taken): one refused because its token expired fails with
// Unauthenticated, and the next call gets a new token. It is safe for
// concurrent use.
type UserAuth struct {
	key, secret string
	priv        crypto.PrivKey
	now         func() time.Time

	// mu is held while a token is got, so that the calls that need one
	// wait for the same.
	mu      sync.Mutex
	token   string       // guarded by mu; "" until the first call
	renewAt time.Time    // guarded by mu; zero: the token does not expire
	onToken func(string) // guarded by mu; nil: none
}

// NewUserAuth returns a UserAuth for the identity priv of the app whose
// user group key is key (secret is its secret, "" for a key that does not
// sign).
func NewUserAuth(key, secret string, priv crypto.PrivKey) *UserAuth {
	return &UserAuth{key: key, secret: secret, priv: priv, now: time.Now}
}

// DialOptions returns the options that make a connection's calls act as
// the user: pass them to client.Dial.
func (a *UserAuth) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(a.unary), grpc.WithChainStreamInterceptor(a.stream)}
}

// Resume makes a start with token, one got before and kept by the caller
// (the hub CLI caches tokens on disk): calls carry it until it is due for
// renewal, by the life written in it, or the hub refuses it. "" drops the
// token held, so that the next call gets a new one.
func (a *UserAuth) Resume(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.token, a.renewAt = token, time.Time{}
	if token != "" {
		// Counted from when the hub issued it, if it says.
		got := a.now()
		if c, ok := claims(token); ok && !c.Iat.IsZero() {
			got = c.Iat
		}
		a.renewAt = renewTime(token, got)
	}
}

// OnToken has fn called with each token a gets from the hub, for a caller
// that keeps it (see Resume). fn runs while calls wait for the token: it
// should be quick.
func (a *UserAuth) OnToken(fn func(token string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.onToken = fn
}

// Token returns the token the last call carried ("" before the first), to
// send elsewhere (an HTTP gateway's Authorization header). It may have
// expired if no call was made for a while.
func (a *UserAuth) Token() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.token
}

func (a *UserAuth) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	token, err := a.current(ctx, cc, "")
	if err != nil {
		return err
	}
	call, err := a.with(ctx, token)
	if err != nil {
		return err
	}
	err = invoke(call, method, req, reply, cc, opts...)
	if !expired(err) {
		return err
	}
	if token, err = a.current(ctx, cc, token); err != nil {
		return err
	}
	if call, err = a.with(ctx, token); err != nil {
		return err
	}
	return invoke(call, method, req, reply, cc, opts...)
}

func (a *UserAuth) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if method == threadspb.API_GetToken_FullMethodName { // the key alone
		call, err := a.with(ctx, "")
		if err != nil {
			return nil, err
		}
		return streamer(call, desc, cc, method, opts...)
	}
	token, err := a.current(ctx, cc, "")
	if err != nil {
		return nil, err
	}
	call, err := a.with(ctx, token)
	if err != nil {
		return nil, err
	}
	s, err := streamer(call, desc, cc, method, opts...)
	if err != nil {
		return nil, err
	}
	return &watchedStream{ClientStream: s, a: a, token: token}, nil
}

// current returns the token to send: the one held, unless there is none
// yet, it is due for renewal, or it is stale (the hub refused it); then a
// new one got over cc.
func (a *UserAuth) current(ctx context.Context, cc grpc.ClientConnInterface, stale string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token != "" && a.token != stale && (a.renewAt.IsZero() || a.now().Before(a.renewAt)) {
		return a.token, nil
	}
	got := a.now()
	token, err := New(cc).GetToken(ctx, a.priv) // the stream interceptor adds the key
	if err != nil {
		return "", err
	}
	a.token, a.renewAt = token, renewTime(token, got)
	if a.onToken != nil {
		a.onToken(token)
	}
	return token, nil
}

// forget drops token if it is still the one held, so that the next call
// gets a new one.
func (a *UserAuth) forget(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}

// with returns ctx carrying the API key and, if not "", the token.
func (a *UserAuth) with(ctx context.Context, token string) (context.Context, error) {
	ctx, err := client.WithAPIKey(ctx, a.key, a.secret)
	if err != nil || token == "" {
		return ctx, err
	}
	return client.WithToken(ctx, token), nil
}

// watchedStream forgets its token when the hub refuses it as expired.
type watchedStream struct {
	grpc.ClientStream
	a     *UserAuth
	token string
}

func (s *watchedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if expired(err) {
		s.a.forget(s.token)
	}
	return err
}

// expired reports whether err is the hub's refusal of an expired token.
func expired(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.Unauthenticated && strings.Contains(st.Message(), "token expired")
}

// renewTime returns when a token got at got is due for renewal: once
// three quarters of its life have passed. The life is the one the hub
// wrote into it (its JWT's exp - iat) and is counted from got, so that a
// clock set differently from the hub's does not matter (without iat, it
// is counted to exp by the local clock). Zero when the token does not
// expire or is not a JWT (the protocol calls tokens opaque): then only the
// hub's refusal renews it.
func renewTime(token string, got time.Time) time.Time {
	c, ok := claims(token)
	if !ok || c.Exp.IsZero() {
		return time.Time{}
	}
	life := c.Exp.Sub(got)
	if !c.Iat.IsZero() {
		life = c.Exp.Sub(c.Iat)
	}
	return got.Add(life * 3 / 4)
}

// tokenTimes are a token's expiry and issue times, zero where it names
// none.
type tokenTimes struct{ Exp, Iat time.Time }

// claims reads the times in token, a JWT; ok is false if it is not one.
func claims(token string) (tokenTimes, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return tokenTimes{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return tokenTimes{}, false
	}
	var c struct {
		Exp, Iat float64
	}
	if json.Unmarshal(payload, &c) != nil {
		return tokenTimes{}, false
	}
	at := func(sec float64) time.Time {
		if sec <= 0 {
			return time.Time{}
		}
		return time.Unix(0, int64(sec*1e9))
	}
	return tokenTimes{Exp: at(c.Exp), Iat: at(c.Iat)}, true
}
