// Package server serves Hub's gRPC services, over plain gRPC and over
// gRPC-Web (HTTP and websockets) for the @textile JavaScript clients. It is
// the edge: it converts between protobuf and domain types, authenticates
// every call once, and maps domain errors to gRPC statuses. The services
// behind it never see protobuf.
package server

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/improbable-eng/grpc-web/go/grpcweb"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/api/pb/hubbucketspb"
	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/api/pb/usersdpb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/mail"
	"github.com/selfhub/hub/metering"
	"github.com/selfhub/hub/threads/db"
)

// BuildInfo describes the running build, reported by BuildInfo.
type BuildInfo struct {
	Version   string
	GitCommit string
	GitBranch string
	GitState  string
	BuildDate string
}

// Services are what the server serves.
type Services struct {
	Auth *auth.Service
	DBs  *db.Manager
	// Meter counts usage: egress here, reads and writes in the services.
	Meter *metering.Meter
	Mail  *mail.Service
	// Buckets is the bucket service; nil serves none.
	Buckets *buckets.Service
	// HostAddrs are the hub's libp2p addresses, ending in /p2p/<peer>.
	HostAddrs func() []ma.Multiaddr
	Build     BuildInfo
	// UploadIdleTimeout is how long an upload stream may deliver nothing
	// before it is ended (stall.go); 0 means DefaultUploadIdleTimeout.
	UploadIdleTimeout time.Duration
}

// Server holds the gRPC server and its services.
type Server struct {
	auth      *auth.Service
	dbs       *db.Manager
	mail      *mail.Service
	buckets   *buckets.Service
	meter     *metering.Meter
	hostAddrs func() []ma.Multiaddr
	build     BuildInfo
	log       *slog.Logger
	metrics   *metrics
	grpc      *grpc.Server
	health    *health.Server
	// requirements names what credentials each method needs; methods not
	// listed need an authenticated principal.
	requirements map[string]auth.Requirement
	// uploadIdle is how long an upload stream may deliver nothing.
	uploadIdle time.Duration
}

// New builds the server and registers every service. Metrics are
// registered with reg.
func New(svc Services, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{auth: svc.Auth, dbs: svc.DBs, meter: svc.Meter, mail: svc.Mail, buckets: svc.Buckets, hostAddrs: svc.HostAddrs, build: svc.Build,
		uploadIdle: svc.UploadIdleTimeout, log: log, metrics: m, health: health.NewServer(), requirements: map[string]auth.Requirement{}}
	if s.uploadIdle <= 0 {
		s.uploadIdle = DefaultUploadIdleTimeout
	}
	s.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
	)
	hubdpb.RegisterAPIServiceServer(s.grpc, &hubdService{s: s})
	threadspb.RegisterAPIServer(s.grpc, &threadsService{s: s})
	usersdpb.RegisterAPIServiceServer(s.grpc, &usersService{s: s})
	bucketsdpb.RegisterAPIServiceServer(s.grpc, &bucketsService{s: s})
	hubbucketspb.RegisterAPIServiceServer(s.grpc, &hubBucketsService{b: &bucketsService{s: s}})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	for method, req := range hubdRequirements {
		s.requirements["/"+hubdpb.APIService_ServiceDesc.ServiceName+"/"+method] = req
	}
	for method, req := range threadsRequirements {
		s.requirements["/"+threadspb.API_ServiceDesc.ServiceName+"/"+method] = req
	}
	for method, req := range bucketsRequirements {
		s.requirements["/"+bucketsdpb.APIService_ServiceDesc.ServiceName+"/"+method] = req
	}
	for method, req := range usersRequirements {
		s.requirements["/"+usersdpb.APIService_ServiceDesc.ServiceName+"/"+method] = req
	}
	s.requirements["/grpc.health.v1.Health/Check"] = auth.Open
	s.requirements["/grpc.health.v1.Health/Watch"] = auth.Open
	s.requirements["/grpc.health.v1.Health/List"] = auth.Open
	return s, nil
}

// GRPC returns the gRPC server, to serve on a listener.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Stop stops serving gRPC, waiting for calls in flight, and marks the
// health service as not serving.
func (s *Server) Stop() {
	s.health.Shutdown()
	s.grpc.GracefulStop()
}

// Web returns an HTTP handler that serves the same services over gRPC-Web,
// with websockets for every call (the @textile clients' default) and CORS
// open to browsers, including the x-textile-* request headers.
func (s *Server) Web() http.Handler {
	return grpcweb.WrapServer(s.grpc,
		grpcweb.WithOriginFunc(func(string) bool { return true }),
		grpcweb.WithWebsockets(true),
		grpcweb.WithWebsocketOriginFunc(func(*http.Request) bool { return true }),
		grpcweb.WithWebsocketPingInterval(20*time.Second),
		grpcweb.WithAllowedRequestHeaders([]string{"*"}),
		grpcweb.WithWebsocketsMessageReadLimit(64<<20),
	)
}
