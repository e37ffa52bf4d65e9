package server

import (
	"context"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
)

// hubdRequirements gives the credentials each api.hubd.pb.APIService method
// needs. Billing is Open so that any caller learns it does not exist here.
var hubdRequirements = map[string]auth.Requirement{
	"BuildInfo":           auth.Open,
	"Signup":              auth.Open,
	"Signin":              auth.Open,
	"IsUsernameAvailable": auth.Open,
	"SetupBilling":        auth.Open,
	"GetBillingSession":   auth.Open,
	"ListBillingUsers":    auth.Open,
	"Signout":             auth.SessionOnly,
	"GetSessionInfo":      auth.SessionOnly,
	"GetIdentity":         auth.SessionOnly,
	"CreateKey":           auth.SessionOnly,
	"ListKeys":            auth.SessionOnly,
	"InvalidateKey":       auth.SessionOnly,
	"CreateOrg":           auth.SessionOnly,
	"GetOrg":              auth.SessionOnly,
	"ListOrgs":            auth.SessionOnly,
	"RemoveOrg":           auth.SessionOnly,
	"InviteToOrg":         auth.SessionOnly,
	"LeaveOrg":            auth.SessionOnly,
	"IsOrgNameAvailable":  auth.SessionOnly,
	"DestroyAccount":      auth.SessionOnly,
}

// errNoBilling answers the billing calls: a self-hosted hub bills no one.
var errNoBilling = errors.E(errors.Unimplemented, "there is no billing in a self-hosted Hub; usage limits are set in hubd's configuration")

// hubdService serves api.hubd.pb.APIService: accounts, orgs and API keys.
type hubdService struct {
	pb.UnimplementedAPIServiceServer
	s *Server
}

func (h *hubdService) BuildInfo(ctx context.Context, _ *pb.BuildInfoRequest) (*pb.BuildInfoResponse, error) {
	b := h.s.build
	return &pb.BuildInfoResponse{
		Version: b.Version, GitCommit: b.GitCommit, GitBranch: b.GitBranch, GitState: b.GitState,
		GitSummary: b.Version, BuildDate: b.BuildDate,
	}, nil
}

func (h *hubdService) Signup(ctx context.Context, req *pb.SignupRequest) (*pb.SignupResponse, error) {
	a, sess, err := h.s.auth.Signup(ctx, req.Username, req.Email)
	if err != nil {
		return nil, err
	}
	key, err := identity.Bytes(a.Key)
	if err != nil {
		return nil, err
	}
	return &pb.SignupResponse{Key: key, Session: sess.ID}, nil
}

func (h *hubdService) Signin(ctx context.Context, req *pb.SigninRequest) (*pb.SigninResponse, error) {
	a, sess, err := h.s.auth.Signin(ctx, req.UsernameOrEmail)
	if err != nil {
		return nil, err
	}
	key, err := identity.Bytes(a.Key)
	if err != nil {
		return nil, err
	}
	return &pb.SigninResponse{Key: key, Session: sess.ID}, nil
}

func (h *hubdService) Signout(ctx context.Context, _ *pb.SignoutRequest) (*pb.SignoutResponse, error) {
	return &pb.SignoutResponse{}, h.s.auth.Signout(ctx, principal(ctx))
}

func (h *hubdService) GetSessionInfo(ctx context.Context, _ *pb.GetSessionInfoRequest) (*pb.GetSessionInfoResponse, error) {
	a, err := h.s.auth.SessionInfo(ctx, principal(ctx))
	if err != nil {
		return nil, err
	}
	key, err := identity.Bytes(a.Key)
	if err != nil {
		return nil, err
	}
	return &pb.GetSessionInfoResponse{Key: key, Username: a.Name, Email: a.Email}, nil
}

func (h *hubdService) GetIdentity(ctx context.Context, _ *pb.GetIdentityRequest) (*pb.GetIdentityResponse, error) {
	priv, err := h.s.auth.Identity(ctx, principal(ctx))
	if err != nil {
		return nil, err
	}
	b, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	return &pb.GetIdentityResponse{Identity: b}, nil
}

func (h *hubdService) CreateKey(ctx context.Context, req *pb.CreateKeyRequest) (*pb.CreateKeyResponse, error) {
	k, err := h.s.auth.CreateKey(ctx, principal(ctx), hub.KeyType(req.Type), req.Secure)
	if err != nil {
		return nil, err
	}
	return &pb.CreateKeyResponse{KeyInfo: keyInfo(k)}, nil
}

func (h *hubdService) ListKeys(ctx context.Context, _ *pb.ListKeysRequest) (*pb.ListKeysResponse, error) {
	keys, err := h.s.auth.ListKeys(ctx, principal(ctx))
	if err != nil {
		return nil, err
	}
	out := &pb.ListKeysResponse{List: make([]*pb.KeyInfo, len(keys))}
	for i, k := range keys {
		out.List[i] = keyInfo(k)
	}
	return out, nil
}

func (h *hubdService) InvalidateKey(ctx context.Context, req *pb.InvalidateKeyRequest) (*pb.InvalidateKeyResponse, error) {
	return &pb.InvalidateKeyResponse{}, h.s.auth.InvalidateKey(ctx, principal(ctx), req.Key)
}

func (h *hubdService) CreateOrg(ctx context.Context, req *pb.CreateOrgRequest) (*pb.CreateOrgResponse, error) {
	org, err := h.s.auth.CreateOrg(ctx, principal(ctx), req.Name)
	if err != nil {
		return nil, err
	}
	info, err := h.orgInfo(org)
	return &pb.CreateOrgResponse{OrgInfo: info}, err
}

func (h *hubdService) GetOrg(ctx context.Context, _ *pb.GetOrgRequest) (*pb.GetOrgResponse, error) {
	org, err := h.s.auth.GetOrg(ctx, principal(ctx))
	if err != nil {
		return nil, err
	}
	info, err := h.orgInfo(org)
	return &pb.GetOrgResponse{OrgInfo: info}, err
}

func (h *hubdService) ListOrgs(ctx context.Context, _ *pb.ListOrgsRequest) (*pb.ListOrgsResponse, error) {
	orgs, err := h.s.auth.ListOrgs(ctx, principal(ctx))
	if err != nil {
		return nil, err
	}
	out := &pb.ListOrgsResponse{List: make([]*pb.OrgInfo, len(orgs))}
	for i, o := range orgs {
		if out.List[i], err = h.orgInfo(o); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (h *hubdService) RemoveOrg(ctx context.Context, _ *pb.RemoveOrgRequest) (*pb.RemoveOrgResponse, error) {
	return &pb.RemoveOrgResponse{}, h.s.auth.RemoveOrg(ctx, principal(ctx))
}

func (h *hubdService) InviteToOrg(ctx context.Context, req *pb.InviteToOrgRequest) (*pb.InviteToOrgResponse, error) {
	// The response's token field stays on the wire for the published
	// clients but is always empty: the invitation's token goes only to
	// the invitee's e-mail, so the inviter cannot accept on their behalf.
	if err := h.s.auth.InviteToOrg(ctx, principal(ctx), req.Email); err != nil {
		return nil, err
	}
	return &pb.InviteToOrgResponse{}, nil
}

func (h *hubdService) LeaveOrg(ctx context.Context, _ *pb.LeaveOrgRequest) (*pb.LeaveOrgResponse, error) {
	return &pb.LeaveOrgResponse{}, h.s.auth.LeaveOrg(ctx, principal(ctx))
}

func (h *hubdService) IsUsernameAvailable(ctx context.Context, req *pb.IsUsernameAvailableRequest) (*pb.IsUsernameAvailableResponse, error) {
	return &pb.IsUsernameAvailableResponse{}, h.s.auth.IsUsernameAvailable(ctx, req.Username)
}

func (h *hubdService) IsOrgNameAvailable(ctx context.Context, req *pb.IsOrgNameAvailableRequest) (*pb.IsOrgNameAvailableResponse, error) {
	slug, err := h.s.auth.IsOrgNameAvailable(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return &pb.IsOrgNameAvailableResponse{Slug: slug, Host: h.s.auth.Host()}, nil
}

func (h *hubdService) DestroyAccount(ctx context.Context, _ *pb.DestroyAccountRequest) (*pb.DestroyAccountResponse, error) {
	return &pb.DestroyAccountResponse{}, h.s.auth.DestroyAccount(ctx, principal(ctx))
}

func (h *hubdService) SetupBilling(context.Context, *pb.SetupBillingRequest) (*pb.SetupBillingResponse, error) {
	return nil, errNoBilling
}

func (h *hubdService) GetBillingSession(context.Context, *pb.GetBillingSessionRequest) (*pb.GetBillingSessionResponse, error) {
	return nil, errNoBilling
}

func (h *hubdService) ListBillingUsers(context.Context, *pb.ListBillingUsersRequest) (*pb.ListBillingUsersResponse, error) {
	return nil, errNoBilling
}

// keyInfo converts an API key to the wire.
func keyInfo(k hub.APIKey) *pb.KeyInfo {
	return &pb.KeyInfo{Key: k.Key, Secret: k.Secret, Type: pb.KeyType(k.Type), Valid: k.Valid, Secure: k.Secure}
}

// orgInfo converts an org to the wire.
func (h *hubdService) orgInfo(org hub.Account) (*pb.OrgInfo, error) {
	key, err := identity.Bytes(org.Key)
	if err != nil {
		return nil, err
	}
	info := &pb.OrgInfo{Key: key, Name: org.Name, Slug: org.Slug, Host: h.s.auth.Host(), CreatedAt: org.CreatedAt.Unix()}
	for _, m := range org.Members {
		mk, err := identity.Bytes(m.Key)
		if err != nil {
			return nil, err
		}
		info.Members = append(info.Members, &pb.OrgInfo_Member{Key: mk, Username: m.Username, Role: string(m.Role)})
	}
	return info, nil
}
