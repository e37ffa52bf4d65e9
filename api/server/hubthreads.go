package server

import (
	"context"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/hubthreadspb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// hubThreadsRequirements gives the credentials each
// api.hubthreads.pb.APIService method needs: any authenticated caller; the
// DB checks roles.
var hubThreadsRequirements = map[string]auth.Requirement{
	"NewACLDB": auth.Authenticated, "ListACL": auth.Authenticated,
	"Grant": auth.Authenticated, "Revoke": auth.Authenticated,
}

// hubThreadsService serves api.hubthreads.pb.APIService, Hub's
// extensions of the thread service: access-controlled DBs.
type hubThreadsService struct {
	pb.UnimplementedAPIServiceServer
	s *Server
}

// access returns the hub's access control bound to the caller, and the DB
// named by raw.
func (h *hubThreadsService) access(ctx context.Context, raw []byte) (hub.ThreadAccess, hub.ThreadID, error) {
	as, ok := h.s.dbs.(hub.ThreadAccessServer)
	if !ok {
		return nil, "", errors.E(errors.Unimplemented, "this hub keeps no access-controlled DBs")
	}
	var id hub.ThreadID
	if raw != nil {
		var err error
		if id, err = threads.Cast(raw); err != nil {
			return nil, "", err
		}
	}
	return as.ThreadAccess(principal(ctx)), id, nil
}

func (h *hubThreadsService) NewACLDB(ctx context.Context, req *pb.NewACLDBRequest) (*pb.NewACLDBResponse, error) {
	a, _, err := h.access(ctx, nil)
	if err != nil {
		return nil, err
	}
	id, err := a.NewACLDB(ctx, hub.DBOptions{Name: req.Name})
	if err != nil {
		return nil, err
	}
	return &pb.NewACLDBResponse{DbId: id.Bytes()}, nil
}

func (h *hubThreadsService) ListACL(ctx context.Context, req *pb.ListACLRequest) (*pb.ListACLResponse, error) {
	a, id, err := h.access(ctx, req.DbId)
	if err != nil {
		return nil, err
	}
	members, err := a.ACL(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &pb.ListACLResponse{}
	for _, m := range members {
		pm := &pb.ACLMember{Identity: string(m.Identity), Role: m.Role}
		for _, l := range m.Logs {
			pm.Logs = append(pm.Logs, &pb.ACLLog{Id: l.ID, Role: l.Role, Revoked: l.Revoked, Cut: l.Cut})
		}
		out.Members = append(out.Members, pm)
	}
	return out, nil
}

func (h *hubThreadsService) Grant(ctx context.Context, req *pb.GrantRequest) (*pb.GrantResponse, error) {
	a, id, err := h.access(ctx, req.DbId)
	if err != nil {
		return nil, err
	}
	return &pb.GrantResponse{}, a.Grant(ctx, id, hub.PubKey(req.Identity), req.Role, req.Logs)
}

func (h *hubThreadsService) Revoke(ctx context.Context, req *pb.RevokeRequest) (*pb.RevokeResponse, error) {
	a, id, err := h.access(ctx, req.DbId)
	if err != nil {
		return nil, err
	}
	return &pb.RevokeResponse{}, a.Revoke(ctx, id, hub.PubKey(req.Identity))
}
