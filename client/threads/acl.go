package threadsclient

import (
	"context"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/hubthreadspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/threads"
)

// Access-controlled DBs, through Hub's extension of the thread service
// (api.hubthreads.pb.APIService): hub.ThreadAccess over gRPC.

var _ hub.ThreadAccess = (*Client)(nil)

// NewACLDB creates an access-controlled DB owned by the caller and returns
// its ID; only opts.Name is sent (the hub makes the key, and collections
// are added with NewCollection).
func (c *Client) NewACLDB(ctx context.Context, opts hub.DBOptions) (ID, error) {
	const op errors.Op = "threadsclient.NewACLDB"
	if len(opts.Key) > 0 || len(opts.Collections) > 0 {
		return "", errors.E(op, errors.Invalid, "NewACLDB takes a name only; add collections with NewCollection")
	}
	r, err := c.acl.NewACLDB(ctx, &hubthreadspb.NewACLDBRequest{Name: opts.Name})
	if err != nil {
		return "", rpcerr.FromStatus(op, err)
	}
	id, err := threads.Cast(r.DbId)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return id, nil
}

// ACL lists the members of DB db's access control list.
func (c *Client) ACL(ctx context.Context, db ID) ([]hub.ACLMember, error) {
	const op errors.Op = "threadsclient.ACL"
	r, err := c.acl.ListACL(ctx, &hubthreadspb.ListACLRequest{DbId: db.Bytes()})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	out := make([]hub.ACLMember, 0, len(r.Members))
	for _, m := range r.Members {
		am := hub.ACLMember{Identity: hub.PubKey(m.Identity), Role: m.Role}
		for _, l := range m.Logs {
			am.Logs = append(am.Logs, hub.ACLLog{ID: l.Id, Role: l.Role, Revoked: l.Revoked, Cut: l.Cut})
		}
		out = append(out, am)
	}
	return out, nil
}

// Grant gives identity role in DB db (see hub.ThreadAccess).
func (c *Client) Grant(ctx context.Context, db ID, identity hub.PubKey, role string, logs []string) error {
	const op errors.Op = "threadsclient.Grant"
	if _, err := c.acl.Grant(ctx, &hubthreadspb.GrantRequest{DbId: db.Bytes(), Identity: string(identity), Role: role, Logs: logs}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// Revoke takes every role away from identity in DB db.
func (c *Client) Revoke(ctx context.Context, db ID, identity hub.PubKey) error {
	const op errors.Op = "threadsclient.Revoke"
	if _, err := c.acl.Revoke(ctx, &hubthreadspb.RevokeRequest{DbId: db.Bytes(), Identity: string(identity)}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}
