package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"strings"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/selfhub/hub/api/pb/hubdpb"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/errors/errorstest"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/test/testhub"
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
	errorstest.WantKind(t, rpcerr.FromStatus("", err), errors.Unimplemented, "no billing in a self-hosted Hub")
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

// TestGRPCWebOverHTTP checks the plain HTTP gRPC-Web path that browsers
// use with transports other than websockets, and the CORS preflight that
// must admit the x-textile-* headers.
func TestGRPCWebOverHTTP(t *testing.T) {
	h := testhub.Start(t, nil)
	base := "http://" + h.Addrs.Web + "/api.hubd.pb.APIService/"

	pre, _ := http.NewRequest(http.MethodOptions, base+"ListKeys", nil)
	pre.Header.Set("Origin", "https://app.example.com")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "x-grpc-web,content-type,x-textile-api-key,x-textile-api-sig,x-textile-api-sig-msg,x-textile-session,authorization")
	resp, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	if resp.Header.Get("Access-Control-Allow-Origin") == "" || !strings.Contains(allowed, "x-textile-api-sig-msg") {
		t.Fatalf("preflight: %s, allow-origin %q, allow-headers %q", resp.Status, resp.Header.Get("Access-Control-Allow-Origin"), allowed)
	}

	call := func(method string, msg proto.Message, headers map[string]string) (*http.Response, []byte) {
		body, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		frame := append([]byte{0, 0, 0, 0, 0}, body...)
		binary.BigEndian.PutUint32(frame[1:5], uint32(len(body)))
		req, _ := http.NewRequest(http.MethodPost, base+method, bytes.NewReader(frame))
		req.Header.Set("Content-Type", "application/grpc-web+proto")
		req.Header.Set("X-Grpc-Web", "1")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, out
	}
	// A unary call answers with a data frame and a trailer frame.
	resp, out := call("BuildInfo", &hubdpb.BuildInfoRequest{}, nil)
	if resp.StatusCode != 200 || len(out) < 5 || out[0] != 0 {
		t.Fatalf("BuildInfo over gRPC-Web: %s % x", resp.Status, out)
	}
	n := binary.BigEndian.Uint32(out[1:5])
	var info hubdpb.BuildInfoResponse
	if err := proto.Unmarshal(out[5:5+n], &info); err != nil || info.Version == "" {
		t.Fatalf("BuildInfo reply %v: %v", &info, err)
	}
	if trailer := string(out[5+n:]); !strings.Contains(trailer, "grpc-status: 0") {
		t.Fatalf("BuildInfo trailer %q", trailer)
	}
	// A refused call carries its status and message.
	resp, out = call("ListKeys", &hubdpb.ListKeysRequest{}, map[string]string{"x-textile-session": "bogus"})
	status := resp.Header.Get("Grpc-Status") + string(out)
	if !strings.Contains(status, "16") || !strings.Contains(resp.Header.Get("Grpc-Message")+string(out), "sign in again") {
		t.Fatalf("refused call: headers %v body %q", resp.Header, out)
	}
}
