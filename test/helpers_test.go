package test

import (
	"context"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/identity"
)

func mustParse(t *testing.T, k hub.PubKey) crypto.PubKey {
	t.Helper()
	pub, err := identity.Parse(k)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func threadsclientFor(t *testing.T, addr string) *threadsclient.Client {
	t.Helper()
	conn, err := client.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return threadsclient.New(conn)
}
