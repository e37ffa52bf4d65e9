package test

import (
	"context"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/selfhub/hub/api/pb/hubdpb"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/testhub"
)

// TestServiceEndpoints checks what operators and load balancers look at:
// HTTP /health and /metrics, the gRPC health service, BuildInfo, and the
// billing calls that a self-hosted hub does not offer.
func TestServiceEndpoints(t *testing.T) {
	h := testhub.Start(t, nil)
	ctx := context.Background()
	if code, body := testhub.Follow(t, "http://"+h.Addrs.Gateway+"/health"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("/health: %d %s", code, body)
	}
	res, err := healthpb.NewHealthClient(h.Conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health: %v %v", res, err)
	}
	hc := hubclient.New(h.Conn)
	if _, err := hc.BuildInfo(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = hubdpb.NewAPIServiceClient(h.Conn).SetupBilling(ctx, &hubdpb.SetupBillingRequest{})
	wantKind(t, errors.FromStatus("", err), errors.Unimplemented, "no billing in a self-hosted Hub")
	hc.Signin(ctx, "nobody") // a refused call, counted too
	_, body := testhub.Follow(t, "http://"+h.Addrs.Gateway+"/metrics")
	for _, want := range []string{
		`hub_grpc_calls_total{code="OK",method="/api.hubd.pb.APIService/BuildInfo"} 1`,
		`hub_grpc_calls_total{code="NotFound",method="/api.hubd.pb.APIService/Signin"} 1`,
		`hub_grpc_calls_total{code="Unimplemented",method="/api.hubd.pb.APIService/SetupBilling"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
