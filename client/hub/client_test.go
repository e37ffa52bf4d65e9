package hubclient_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
)

// fake answers with canned responses and records the metadata of the last
// call. It checks conversions, not server behaviour.
type fake struct {
	hubdpb.UnimplementedAPIServiceServer
	priv   crypto.PrivKey
	member crypto.PrivKey
	md     metadata.MD
}

func keyBytes(t *testing.T, k crypto.PrivKey) []byte {
	t.Helper()
	b, err := crypto.MarshalPublicKey(k.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pubString(t *testing.T, k crypto.PrivKey) hub.PubKey {
	t.Helper()
	s, err := identity.String(k.GetPublic())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (f *fake) record(ctx context.Context) { f.md, _ = metadata.FromIncomingContext(ctx) }

func (f *fake) BuildInfo(ctx context.Context, _ *hubdpb.BuildInfoRequest) (*hubdpb.BuildInfoResponse, error) {
	return &hubdpb.BuildInfoResponse{Version: "v1.2.3", GitCommit: "abc", GitState: "clean", BuildDate: "2030-01-01"}, nil
}

func (f *fake) Signup(ctx context.Context, r *hubdpb.SignupRequest) (*hubdpb.SignupResponse, error) {
	if r.Username == "taken" {
		return nil, status.Error(codes.AlreadyExists, "username taken is already taken; choose another")
	}
	b, _ := crypto.MarshalPublicKey(f.priv.GetPublic())
	return &hubdpb.SignupResponse{Key: b, Session: "sess-" + r.Username}, nil
}

func (f *fake) Signin(ctx context.Context, r *hubdpb.SigninRequest) (*hubdpb.SigninResponse, error) {
	return &hubdpb.SigninResponse{Key: []byte("not a key"), Session: "s"}, nil
}

func (f *fake) GetSessionInfo(ctx context.Context, _ *hubdpb.GetSessionInfoRequest) (*hubdpb.GetSessionInfoResponse, error) {
	f.record(ctx)
	if len(f.md.Get("x-textile-session")) == 0 {
		return nil, status.Error(codes.Unauthenticated, "no session; run hub login")
	}
	b, _ := crypto.MarshalPublicKey(f.priv.GetPublic())
	return &hubdpb.GetSessionInfoResponse{Key: b, Username: "alice", Email: "alice@example.com"}, nil
}

func (f *fake) GetIdentity(ctx context.Context, _ *hubdpb.GetIdentityRequest) (*hubdpb.GetIdentityResponse, error) {
	b, _ := crypto.MarshalPrivateKey(f.priv)
	return &hubdpb.GetIdentityResponse{Identity: b}, nil
}

func (f *fake) CreateKey(ctx context.Context, r *hubdpb.CreateKeyRequest) (*hubdpb.CreateKeyResponse, error) {
	f.record(ctx)
	return &hubdpb.CreateKeyResponse{KeyInfo: &hubdpb.KeyInfo{Key: "bkey", Secret: "bsecret", Type: r.Type, Valid: true, Secure: r.Secure}}, nil
}

func (f *fake) ListKeys(ctx context.Context, _ *hubdpb.ListKeysRequest) (*hubdpb.ListKeysResponse, error) {
	return &hubdpb.ListKeysResponse{List: []*hubdpb.KeyInfo{
		{Key: "bk1", Secret: "bs1", Type: hubdpb.KeyType_KEY_TYPE_ACCOUNT, Valid: true, Secure: true, Threads: 3},
		{Key: "bk2", Secret: "bs2", Type: hubdpb.KeyType_KEY_TYPE_USER, Valid: false},
	}}, nil
}

func (f *fake) GetOrg(ctx context.Context, _ *hubdpb.GetOrgRequest) (*hubdpb.GetOrgResponse, error) {
	f.record(ctx)
	slug := f.md.Get("x-textile-org")
	if len(slug) == 0 || slug[0] != "acme" {
		return nil, status.Errorf(codes.NotFound, "org %v not found", slug)
	}
	ob, _ := crypto.MarshalPublicKey(f.priv.GetPublic())
	mb, _ := crypto.MarshalPublicKey(f.member.GetPublic())
	return &hubdpb.GetOrgResponse{OrgInfo: &hubdpb.OrgInfo{
		Key: ob, Name: "Acme Inc", Slug: "acme", Host: "https://hub.example",
		Members:   []*hubdpb.OrgInfo_Member{{Key: mb, Username: "alice", Role: "owner"}},
		CreatedAt: 1900000000,
	}}, nil
}

func (f *fake) IsOrgNameAvailable(ctx context.Context, r *hubdpb.IsOrgNameAvailableRequest) (*hubdpb.IsOrgNameAvailableResponse, error) {
	return &hubdpb.IsOrgNameAvailableResponse{Slug: "acme-inc", Host: "https://hub.example"}, nil
}

func (f *fake) InviteToOrg(ctx context.Context, r *hubdpb.InviteToOrgRequest) (*hubdpb.InviteToOrgResponse, error) {
	return &hubdpb.InviteToOrgResponse{Token: "invite-" + r.Email}, nil
}

func newClient(t *testing.T) (*hubclient.Client, *fake) {
	t.Helper()
	f := &fake{}
	var err error
	if f.priv, err = identity.New(); err != nil {
		t.Fatal(err)
	}
	if f.member, err = identity.New(); err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	hubdpb.RegisterAPIServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := client.Dial(context.Background(), "passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return hubclient.New(conn), f
}

func TestBuildInfo(t *testing.T) {
	c, _ := newClient(t)
	bi, err := c.BuildInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := hubclient.BuildInfo{Version: "v1.2.3", GitCommit: "abc", GitState: "clean", BuildDate: "2030-01-01"}
	if bi != want {
		t.Errorf("BuildInfo = %+v, want %+v", bi, want)
	}
}

func TestSignupConvertsKey(t *testing.T) {
	c, f := newClient(t)
	s, err := c.Signup(context.Background(), "alice", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := (hubclient.Session{Key: pubString(t, f.priv), ID: "sess-alice"}); s != want {
		t.Errorf("Signup = %+v, want %+v", s, want)
	}
}

func TestErrorsKeepKindAndMessage(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		kind errors.Kind
		msg  string
	}{
		{"server status", func() error { _, err := c.Signup(ctx, "taken", "x@example.com"); return err },
			errors.Exist, "username taken is already taken; choose another"},
		{"missing credentials", func() error { _, err := c.SessionInfo(ctx); return err },
			errors.Unauthenticated, "no session; run hub login"},
		{"unknown org", func() error { _, err := c.GetOrg(client.WithOrg(ctx, "nope")); return err },
			errors.NotExist, "org [nope] not found"},
		{"unimplemented method", func() error { return c.LeaveOrg(ctx) },
			errors.Unimplemented, "method LeaveOrg not implemented"},
		{"malformed key from the server", func() error { _, err := c.Signin(ctx, "alice"); return err },
			errors.Internal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(tt.kind, err) {
				t.Fatalf("got %v (kind %v), want kind %v", err, errors.KindOf(err), tt.kind)
			}
			if tt.msg != "" && errors.Message(err) != tt.msg {
				t.Errorf("message = %q, want %q", errors.Message(err), tt.msg)
			}
		})
	}
}

func TestSessionInfoSendsSession(t *testing.T) {
	c, f := newClient(t)
	info, err := c.SessionInfo(client.WithSession(context.Background(), "sess-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := hubclient.SessionInfo{Key: pubString(t, f.priv), Username: "alice", Email: "alice@example.com"}
	if info != want {
		t.Errorf("SessionInfo = %+v, want %+v", info, want)
	}
	if got := f.md.Get("x-textile-session"); len(got) != 1 || got[0] != "sess-1" {
		t.Errorf("session header = %q, want sess-1", got)
	}
}

func TestIdentity(t *testing.T) {
	c, f := newClient(t)
	priv, err := c.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Equals(f.priv) {
		t.Error("Identity returned a different key than the server sent")
	}
}

func TestKeys(t *testing.T) {
	c, _ := newClient(t)
	ctx := client.WithOrg(client.WithSession(context.Background(), "s"), "acme")
	k, err := c.CreateKey(ctx, hub.UserKey, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := (hub.APIKey{Key: "bkey", Secret: "bsecret", Type: hub.UserKey, Secure: true, Valid: true}); k != want {
		t.Errorf("CreateKey = %+v, want %+v", k, want)
	}
	keys, err := c.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []hub.APIKey{
		{Key: "bk1", Secret: "bs1", Type: hub.AccountKey, Secure: true, Valid: true},
		{Key: "bk2", Secret: "bs2", Type: hub.UserKey},
	}
	if len(keys) != len(want) {
		t.Fatalf("ListKeys = %+v, want %+v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Errorf("key %d = %+v, want %+v", i, keys[i], want[i])
		}
	}
}

func TestOrgs(t *testing.T) {
	c, f := newClient(t)
	o, err := c.GetOrg(client.WithOrg(context.Background(), "acme"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Key != pubString(t, f.priv) || o.Type != hub.Organization || o.Name != "Acme Inc" || o.Slug != "acme" {
		t.Errorf("GetOrg = %+v", o)
	}
	if want := time.Unix(1900000000, 0); !o.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", o.CreatedAt, want)
	}
	wantMembers := []hub.Member{{Key: pubString(t, f.member), Username: "alice", Role: hub.RoleOwner}}
	if len(o.Members) != 1 || o.Members[0] != wantMembers[0] {
		t.Errorf("Members = %+v, want %+v", o.Members, wantMembers)
	}

	slug, host, err := c.IsOrgNameAvailable(context.Background(), "Acme Inc")
	if err != nil || slug != "acme-inc" || host != "https://hub.example" {
		t.Errorf("IsOrgNameAvailable = %q, %q, %v; want acme-inc, https://hub.example, nil", slug, host, err)
	}
	tok, err := c.InviteToOrg(client.WithOrg(context.Background(), "acme"), "bob@example.com")
	if err != nil || tok != "invite-bob@example.com" {
		t.Errorf("InviteToOrg = %q, %v", tok, err)
	}
}
