package hubclient

import (
	"context"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
)

// IsOrgNameAvailable returns the slug an org named name would get and the
// host its URLs would use, or an error (usually of kind Exist or Invalid)
// if the name cannot be used.
func (c *Client) IsOrgNameAvailable(ctx context.Context, name string) (slug, host string, err error) {
	const op errors.Op = "hubclient.IsOrgNameAvailable"
	r, err := c.c.IsOrgNameAvailable(ctx, &hubdpb.IsOrgNameAvailableRequest{Name: name})
	if err != nil {
		return "", "", rpcerr.FromStatus(op, err)
	}
	return r.GetSlug(), r.GetHost(), nil
}

// CreateOrg creates an org owned by the developer whose session is in ctx.
func (c *Client) CreateOrg(ctx context.Context, name string) (hub.Account, error) {
	const op errors.Op = "hubclient.CreateOrg"
	r, err := c.c.CreateOrg(ctx, &hubdpb.CreateOrgRequest{Name: name})
	if err != nil {
		return hub.Account{}, rpcerr.FromStatus(op, err)
	}
	return org(op, r.GetOrgInfo())
}

// GetOrg returns the org named in ctx (client.WithOrg), with its members.
func (c *Client) GetOrg(ctx context.Context) (hub.Account, error) {
	const op errors.Op = "hubclient.GetOrg"
	r, err := c.c.GetOrg(ctx, &hubdpb.GetOrgRequest{})
	if err != nil {
		return hub.Account{}, rpcerr.FromStatus(op, err)
	}
	return org(op, r.GetOrgInfo())
}

// ListOrgs lists the orgs the developer whose session is in ctx belongs to.
func (c *Client) ListOrgs(ctx context.Context) ([]hub.Account, error) {
	const op errors.Op = "hubclient.ListOrgs"
	r, err := c.c.ListOrgs(ctx, &hubdpb.ListOrgsRequest{})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	orgs := make([]hub.Account, 0, len(r.GetList()))
	for _, o := range r.GetList() {
		a, err := org(op, o)
		if err != nil {
			return nil, err
		}
		orgs = append(orgs, a)
	}
	return orgs, nil
}

// RemoveOrg deletes the org named in ctx. Only its owner may.
func (c *Client) RemoveOrg(ctx context.Context) error {
	const op errors.Op = "hubclient.RemoveOrg"
	if _, err := c.c.RemoveOrg(ctx, &hubdpb.RemoveOrgRequest{}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// InviteToOrg invites the holder of email to the org named in ctx. The
// invitation link goes to that e-mail only; the inviter never sees it.
func (c *Client) InviteToOrg(ctx context.Context, email string) error {
	const op errors.Op = "hubclient.InviteToOrg"
	if _, err := c.c.InviteToOrg(ctx, &hubdpb.InviteToOrgRequest{Email: email}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// LeaveOrg removes the developer whose session is in ctx from the org
// named in ctx.
func (c *Client) LeaveOrg(ctx context.Context) error {
	const op errors.Op = "hubclient.LeaveOrg"
	if _, err := c.c.LeaveOrg(ctx, &hubdpb.LeaveOrgRequest{}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// org converts an OrgInfo. The host is not part of hub.Account and is
// dropped; IsOrgNameAvailable reports it.
func org(op errors.Op, o *hubdpb.OrgInfo) (hub.Account, error) {
	key, err := pubKey(op, o.GetKey())
	if err != nil {
		return hub.Account{}, err
	}
	a := hub.Account{
		Key:  key,
		Type: hub.Organization,
		Name: o.GetName(),
		Slug: o.GetSlug(),
	}
	if s := o.GetCreatedAt(); s != 0 {
		a.CreatedAt = time.Unix(s, 0).UTC()
	}
	for _, m := range o.GetMembers() {
		mk, err := pubKey(op, m.GetKey())
		if err != nil {
			return hub.Account{}, err
		}
		a.Members = append(a.Members, hub.Member{Key: mk, Username: m.GetUsername(), Role: hub.Role(m.GetRole())})
	}
	return a, nil
}
