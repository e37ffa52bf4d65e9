package cli

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/identity"
)

// fakeHub is an in-memory stand-in for hubd's account API, just rich
// enough to drive the CLI through its commands and to check what it sends.
// It is not a model of the server's rules; the real daemon's tests own
// those.
type fakeHub struct {
	hubdpb.UnimplementedAPIServiceServer

	mu       sync.Mutex
	accounts map[string]*fakeAccount // by username or org slug
	sessions map[string]string       // session ID → username
	keys     map[string][]*hubdpb.KeyInfo
	n        int
	calls    []fakeCall // every call, in order
}

type fakeAccount struct {
	key     []byte
	name    string
	email   string
	org     bool
	members []string // usernames; the first is the owner
}

// fakeCall records the method and credentials of one call.
type fakeCall struct {
	method, session, org string
}

func newFakeHub(t *testing.T) (*fakeHub, string) {
	t.Helper()
	f := &fakeHub{accounts: map[string]*fakeAccount{}, sessions: map[string]string{}, keys: map[string][]*hubdpb.KeyInfo{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(f.record))
	hubdpb.RegisterAPIServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

func (f *fakeHub) record(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c := fakeCall{method: info.FullMethod[strings.LastIndex(info.FullMethod, "/")+1:]}
	if v := md.Get("x-textile-session"); len(v) > 0 {
		c.session = v[0]
	}
	if v := md.Get("x-textile-org"); len(v) > 0 {
		c.org = v[0]
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	return h(ctx, req)
}

// lastCall returns the last call of method.
func (f *fakeHub) lastCall(method string) fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.calls) - 1; i >= 0; i-- {
		if f.calls[i].method == method {
			return f.calls[i]
		}
	}
	return fakeCall{}
}

func (f *fakeHub) newKey() []byte {
	priv, _ := identity.New()
	b, _ := crypto.MarshalPublicKey(priv.GetPublic())
	return b
}

func (f *fakeHub) id(prefix string) string {
	f.n++
	return fmt.Sprintf("%s%d", prefix, f.n)
}

// who returns the session's user, and the account the call acts as: the
// org in the metadata, or the user. Callers hold f.mu.
func (f *fakeHub) who(ctx context.Context) (user, acting string, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s := md.Get("x-textile-session")
	if len(s) == 0 || f.sessions[s[0]] == "" {
		return "", "", status.Error(codes.Unauthenticated, "session required")
	}
	user = f.sessions[s[0]]
	if o := md.Get("x-textile-org"); len(o) > 0 {
		a := f.accounts[o[0]]
		if a == nil || !a.org {
			return "", "", status.Errorf(codes.NotFound, "org %s not found", o[0])
		}
		for _, m := range a.members {
			if m == user {
				return user, o[0], nil
			}
		}
		return "", "", status.Errorf(codes.PermissionDenied, "you are not a member of %s", o[0])
	}
	return user, user, nil
}

func (f *fakeHub) BuildInfo(context.Context, *hubdpb.BuildInfoRequest) (*hubdpb.BuildInfoResponse, error) {
	return &hubdpb.BuildInfoResponse{Version: "v9.9.9", GitCommit: "c0ffee"}, nil
}

func (f *fakeHub) IsUsernameAvailable(_ context.Context, r *hubdpb.IsUsernameAvailableRequest) (*hubdpb.IsUsernameAvailableResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.accounts[r.Username] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "username %s is taken", r.Username)
	}
	return &hubdpb.IsUsernameAvailableResponse{}, nil
}

func (f *fakeHub) Signup(_ context.Context, r *hubdpb.SignupRequest) (*hubdpb.SignupResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.accounts[r.Username] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "username %s is taken", r.Username)
	}
	a := &fakeAccount{key: f.newKey(), name: r.Username, email: r.Email}
	f.accounts[r.Username] = a
	s := f.id("session-")
	f.sessions[s] = r.Username
	return &hubdpb.SignupResponse{Key: a.key, Session: s}, nil
}

func (f *fakeHub) Signin(_ context.Context, r *hubdpb.SigninRequest) (*hubdpb.SigninResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, a := range f.accounts {
		if !a.org && (name == r.UsernameOrEmail || a.email == r.UsernameOrEmail) {
			s := f.id("session-")
			f.sessions[s] = name
			return &hubdpb.SigninResponse{Key: a.key, Session: s}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no account %s", r.UsernameOrEmail)
}

func (f *fakeHub) Signout(ctx context.Context, _ *hubdpb.SignoutRequest) (*hubdpb.SignoutResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, _, err := f.who(ctx); err != nil {
		return nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	delete(f.sessions, md.Get("x-textile-session")[0])
	return &hubdpb.SignoutResponse{}, nil
}

func (f *fakeHub) GetSessionInfo(ctx context.Context, _ *hubdpb.GetSessionInfoRequest) (*hubdpb.GetSessionInfoResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user, _, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	a := f.accounts[user]
	return &hubdpb.GetSessionInfoResponse{Key: a.key, Username: a.name, Email: a.email}, nil
}

func (f *fakeHub) DestroyAccount(ctx context.Context, _ *hubdpb.DestroyAccountRequest) (*hubdpb.DestroyAccountResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user, _, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	delete(f.accounts, user)
	for s, u := range f.sessions {
		if u == user {
			delete(f.sessions, s)
		}
	}
	return &hubdpb.DestroyAccountResponse{}, nil
}

func (f *fakeHub) CreateKey(ctx context.Context, r *hubdpb.CreateKeyRequest) (*hubdpb.CreateKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, acting, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	k := &hubdpb.KeyInfo{Key: f.id("bkey"), Secret: f.id("bsecret"), Type: r.Type, Secure: r.Secure, Valid: true}
	f.keys[acting] = append(f.keys[acting], k)
	return &hubdpb.CreateKeyResponse{KeyInfo: k}, nil
}

func (f *fakeHub) ListKeys(ctx context.Context, _ *hubdpb.ListKeysRequest) (*hubdpb.ListKeysResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, acting, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	return &hubdpb.ListKeysResponse{List: f.keys[acting]}, nil
}

func (f *fakeHub) InvalidateKey(ctx context.Context, r *hubdpb.InvalidateKeyRequest) (*hubdpb.InvalidateKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, acting, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range f.keys[acting] {
		if k.Key == r.Key {
			k.Valid = false
			return &hubdpb.InvalidateKeyResponse{}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "key %s not found", r.Key)
}

func (f *fakeHub) orgInfo(slug string) *hubdpb.OrgInfo {
	a := f.accounts[slug]
	o := &hubdpb.OrgInfo{Key: a.key, Name: a.name, Slug: slug, CreatedAt: time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC).Unix()}
	for i, m := range a.members {
		role := "member"
		if i == 0 {
			role = "owner"
		}
		o.Members = append(o.Members, &hubdpb.OrgInfo_Member{Key: f.accounts[m].key, Username: m, Role: role})
	}
	return o
}

func (f *fakeHub) CreateOrg(ctx context.Context, r *hubdpb.CreateOrgRequest) (*hubdpb.CreateOrgResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user, _, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	slug := strings.ToLower(strings.ReplaceAll(r.Name, " ", "-"))
	if f.accounts[slug] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "org %s exists", slug)
	}
	f.accounts[slug] = &fakeAccount{key: f.newKey(), name: r.Name, org: true, members: []string{user}}
	return &hubdpb.CreateOrgResponse{OrgInfo: f.orgInfo(slug)}, nil
}

func (f *fakeHub) GetOrg(ctx context.Context, _ *hubdpb.GetOrgRequest) (*hubdpb.GetOrgResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user, acting, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	if acting == user {
		return nil, status.Error(codes.InvalidArgument, "no org given")
	}
	return &hubdpb.GetOrgResponse{OrgInfo: f.orgInfo(acting)}, nil
}

func (f *fakeHub) ListOrgs(ctx context.Context, _ *hubdpb.ListOrgsRequest) (*hubdpb.ListOrgsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	user, _, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	var list []*hubdpb.OrgInfo
	for slug, a := range f.accounts {
		for _, m := range a.members {
			if a.org && m == user {
				list = append(list, f.orgInfo(slug))
			}
		}
	}
	return &hubdpb.ListOrgsResponse{List: list}, nil
}

func (f *fakeHub) RemoveOrg(ctx context.Context, _ *hubdpb.RemoveOrgRequest) (*hubdpb.RemoveOrgResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, acting, err := f.who(ctx)
	if err != nil {
		return nil, err
	}
	delete(f.accounts, acting)
	return &hubdpb.RemoveOrgResponse{}, nil
}

func (f *fakeHub) InviteToOrg(ctx context.Context, r *hubdpb.InviteToOrgRequest) (*hubdpb.InviteToOrgResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, _, err := f.who(ctx); err != nil {
		return nil, err
	}
	return &hubdpb.InviteToOrgResponse{Token: "invite-" + r.Email}, nil
}
