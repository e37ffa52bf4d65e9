package hubclient

import (
	"context"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
)

// CreateKey creates an API key for the account the call acts as (the
// developer, or the org named in ctx). A secure key's requests must be
// signed with its secret (client.WithAPIKey).
func (c *Client) CreateKey(ctx context.Context, t hub.KeyType, secure bool) (hub.APIKey, error) {
	const op errors.Op = "hubclient.CreateKey"
	r, err := c.c.CreateKey(ctx, &hubdpb.CreateKeyRequest{Type: hubdpb.KeyType(t), Secure: secure})
	if err != nil {
		return hub.APIKey{}, rpcerr.FromStatus(op, err)
	}
	return apiKey(r.GetKeyInfo()), nil
}

// ListKeys lists the API keys of the account the call acts as, including
// invalidated ones (Valid false).
func (c *Client) ListKeys(ctx context.Context) ([]hub.APIKey, error) {
	const op errors.Op = "hubclient.ListKeys"
	r, err := c.c.ListKeys(ctx, &hubdpb.ListKeysRequest{})
	if err != nil {
		return nil, rpcerr.FromStatus(op, err)
	}
	keys := make([]hub.APIKey, 0, len(r.GetList()))
	for _, k := range r.GetList() {
		keys = append(keys, apiKey(k))
	}
	return keys, nil
}

// InvalidateKey invalidates an API key of the account the call acts as;
// the server refuses it from then on.
func (c *Client) InvalidateKey(ctx context.Context, key string) error {
	const op errors.Op = "hubclient.InvalidateKey"
	if _, err := c.c.InvalidateKey(ctx, &hubdpb.InvalidateKeyRequest{Key: key}); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	return nil
}

// apiKey converts a KeyInfo. The wire carries neither the owner nor the
// creation time, so those stay zero; the thread count has no home in
// hub.APIKey and is dropped.
func apiKey(k *hubdpb.KeyInfo) hub.APIKey {
	return hub.APIKey{
		Key:    k.GetKey(),
		Secret: k.GetSecret(),
		Type:   hub.KeyType(k.GetType()),
		Secure: k.GetSecure(),
		Valid:  k.GetValid(),
	}
}
