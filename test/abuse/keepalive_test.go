package abuse

import (
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/selfhub/hub/api/pb/threadspb"
)

// TestKeepalive: hubd enforces gRPC keepalive. A client that pings more
// often than every 10 s (here, ten pings at once, on a connection with a
// call open) is sent GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and
// disconnected; a connection with no call is sent GOAWAY "max_idle" and
// closed after --grpc-idle-timeout (2s here). Either way hubd stays up,
// the attacker can connect again and be served, and another tenant is
// served.
func TestKeepalive(t *testing.T) {
	h := startHub(t, "--grpc-idle-timeout", "2s")
	attacker, other := newTenant(t, h, "mallory"), newTenant(t, h, "alice")
	deadline := time.Now().Add(time.Minute)

	t.Run("too many pings", func(t *testing.T) {
		c := dialH2(t, h.Addrs.API)
		// A call waiting for its request keeps the connection busy, so
		// that only the pings can end it.
		c.call(1, "/"+threadspb.API_ServiceDesc.ServiceName+"/Listen", attacker.User, nil)
		for i := range 10 {
			if err := c.fr.WritePing(false, [8]byte{byte(i)}); err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
		}
		g := c.goAway(deadline)
		if g.ErrCode != http2.ErrCodeEnhanceYourCalm || string(g.DebugData()) != "too_many_pings" {
			t.Fatalf("GOAWAY %v %q; want ENHANCE_YOUR_CALM too_many_pings", g.ErrCode, g.DebugData())
		}
		c.closed(deadline)
	})
	t.Run("idle", func(t *testing.T) {
		c := dialH2(t, h.Addrs.API)
		g := c.goAway(deadline)
		if g.ErrCode != http2.ErrCodeNo || string(g.DebugData()) != "max_idle" {
			t.Fatalf("GOAWAY %v %q; want NO_ERROR max_idle", g.ErrCode, g.DebugData())
		}
		c.closed(deadline)
	})
	attacker.mustBeServed(t)
	other.mustBeServed(t)
	h.alive(t)
}
