package db

import (
	"context"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

var _ hub.ThreadAccessServer = (*Manager)(nil)

// ThreadAccess returns the hub's access control bound to principal p: the
// hub.ThreadAccess the API serves to p.
func (m *Manager) ThreadAccess(p hub.Principal) hub.ThreadAccess { return bound{m: m, p: p} }

func (b bound) NewACLDB(ctx context.Context, opts hub.DBOptions) (hub.ThreadID, error) {
	const op errors.Op = "db.NewACLDB"
	key, cols, err := dbOptions(opts)
	if err != nil {
		return "", errors.E(op, err)
	}
	info, err := b.m.NewACLDB(ctx, b.p, opts.Name, key, cols)
	if err != nil {
		return "", err
	}
	return info.ID, nil
}

func (b bound) ACL(ctx context.Context, db hub.ThreadID) ([]hub.ACLMember, error) {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return nil, err
	}
	members, err := d.ACL(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]hub.ACLMember, len(members))
	for i, m := range members {
		out[i] = hub.ACLMember{Identity: m.Identity, Role: m.Role.String()}
		for _, l := range m.Logs {
			out[i].Logs = append(out[i].Logs, hub.ACLLog{ID: l.ID, Role: l.Role.String(), Revoked: l.Revoked, Cut: l.Cut})
		}
	}
	return out, nil
}

func (b bound) Grant(ctx context.Context, db hub.ThreadID, identity hub.PubKey, role string, logs []string) error {
	r, err := ParseRole(role)
	if err != nil {
		return err
	}
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return err
	}
	return d.Grant(ctx, b.p, identity, r, logs)
}

func (b bound) Revoke(ctx context.Context, db hub.ThreadID, identity hub.PubKey) error {
	d, err := b.m.DB(ctx, b.p, db)
	if err != nil {
		return err
	}
	return d.Revoke(ctx, b.p, identity)
}
