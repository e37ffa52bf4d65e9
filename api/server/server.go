// Package server serves Hub's gRPC services, over plain gRPC and over
// gRPC-Web (HTTP and websockets) for the @textile JavaScript clients. It is
// the edge: it converts between protobuf and domain types, authenticates
// every call once, and maps domain errors to gRPC statuses. The services
// behind it never see protobuf.
package server

import (
	"context"
	"log/slog"
	"net"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/bucketsdpb"
	"github.com/selfhub/hub/api/pb/hubbucketspb"
	"github.com/selfhub/hub/api/pb/hubdpb"
	"github.com/selfhub/hub/api/pb/hubthreadspb"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/api/pb/usersdpb"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/metering"
	"github.com/selfhub/hub/threads"
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
	// DBs is ThreadDB, bound to each call's principal.
	DBs hub.ThreadServer
	// ListenReads counts the changes listeners read from the store, for
	// /metrics (db.Manager.ListenReads); nil exports none.
	ListenReads func() uint64
	// Meter counts usage: egress here, reads and writes in the services.
	Meter *metering.Meter
	// Usage reports it (GetUsage).
	Usage *metering.Reporter
	// Mail is the mailboxes, bound to each call's principal.
	Mail hub.MailServer
	// Buckets is the bucket service; nil serves none.
	Buckets hub.BucketServer
	// HostAddrs are the hub's libp2p addresses, ending in /p2p/<peer>.
	HostAddrs func() []ma.Multiaddr
	// Join joins, for p, DB id, which the peer at host (ending in
	// /p2p/<peer>) hosts, from its key, and returns once its history has
	// arrived (threads/replicate's Service.Join); nil answers
	// NewDBFromAddr with Unimplemented.
	Join func(ctx context.Context, p hub.Principal, host ma.Multiaddr, id hub.ThreadID, key threads.Key, name string) error
	// DropReplica stops replicating, for p, a thread Join made this hub
	// the replicator of (threads/replicate's Service.DropReplica): DeleteDB
	// of an ID that is no DB of p's calls it. NotExist when there is no
	// such replica; nil deletes DBs only.
	DropReplica func(ctx context.Context, p hub.Principal, id hub.ThreadID) error
	Build       BuildInfo
}

// Limits bound what one caller can make the server hold: every one is a
// hubd flag, named beside it.
type Limits struct {
	// MaxMessageSize is the largest request message, on gRPC and gRPC-Web
	// (--max-message-size).
	MaxMessageSize int
	// MaxStreamsPerConn caps the concurrent calls on one gRPC connection
	// (--max-streams-per-conn).
	MaxStreamsPerConn int
	// MaxStreamsPerPrincipal caps the open streaming calls (Listen,
	// transactions, pushes, pulls) of one identity, and
	// MaxStreamsPerAccount those of an account with all its users
	// (--max-streams-per-principal, --max-streams-per-account).
	MaxStreamsPerPrincipal int
	MaxStreamsPerAccount   int
	// MaxSignInsPerIP caps the sign-ins (GetToken) in progress from one
	// remote IP (an IPv6 /64), and MaxSignIns those in the whole hub;
	// SignInTimeout is how long one may take, challenge answered and all
	// (--max-signins-per-ip, --max-signins, --signin-timeout; see
	// signins). Zero means the default.
	MaxSignInsPerIP int
	MaxSignIns      int
	SignInTimeout   time.Duration
	// IdleTimeout closes a gRPC connection with no call for that long
	// (--grpc-idle-timeout).
	IdleTimeout time.Duration
	// HandshakeTimeout is how long a new gRPC connection may take to
	// finish its handshake, and a gRPC-Web call (websocket or plain) to
	// start (--handshake-timeout).
	HandshakeTimeout time.Duration
	// WebPreAuthBytes and WebIdleTimeout guard gRPC-Web calls and
	// websockets: see Server.Web (--web-preauth-bytes,
	// --web-idle-timeout).
	WebPreAuthBytes int
	WebIdleTimeout  time.Duration
	// WebWindow is how far, in bytes, gRPC may read a gRPC-Web call's
	// messages ahead of its handler; never less than one whole message
	// (--web-window).
	WebWindow int
	// UploadIdleTimeout is how long an upload stream may deliver nothing
	// before it is ended (stall.go; --upload-idle-timeout); 0 means
	// DefaultUploadIdleTimeout.
	UploadIdleTimeout time.Duration
	// MaxReceiveMemory bounds the bytes of request messages hubd holds
	// before their handlers take them, over all calls at once, and
	// MaxReceiveMemoryPerIP those of the calls from one remote IP (an
	// IPv6 /64); ReceiveWait is how long a connection may wait for room
	// before it is closed (see recvBudget; --max-receive-memory,
	// --max-receive-memory-per-ip, --receive-wait). Zero means the
	// default.
	MaxReceiveMemory      int64
	MaxReceiveMemoryPerIP int64
	ReceiveWait           time.Duration
	// MessageTimeout is how long a gRPC request message may take to
	// arrive whole once its first frame has (see recvConn;
	// --message-timeout); zero means the default.
	MessageTimeout time.Duration
	// MaxHeaderBytes bounds the metadata (headers) of one gRPC call,
	// which hubd holds for as long as the call lasts
	// (--http-max-header-bytes); zero means the default.
	MaxHeaderBytes int
}

// Default limits.
const (
	DefaultMaxMessageSize         = 4 << 20
	DefaultMaxStreamsPerConn      = 128
	DefaultMaxStreamsPerPrincipal = 64
	DefaultMaxStreamsPerAccount   = 1024
	DefaultIdleTimeout            = 5 * time.Minute
	DefaultHandshakeTimeout       = 10 * time.Second
	DefaultWebPreAuthBytes        = 64 << 10
	DefaultWebIdleTimeout         = time.Minute
	DefaultWebWindow              = 8 << 20
	DefaultMaxHeaderBytes         = 64 << 10
)

// Default receive budget. 256 MiB hub-wide is 64 whole messages of the
// largest size in flight at once, and 32 MiB per remote IP is eight:
// enough for a busy client's parallel uploads, while 1024 sign-ins that
// announce 4 MiB messages and never finish them no longer hold 4 GiB. A
// connection that waits 10 s for room is closed; clients that send whole
// messages at a normal pace wait far less.
const (
	DefaultMaxReceiveMemory      = 256 << 20
	DefaultMaxReceiveMemoryPerIP = 32 << 20
	DefaultReceiveWait           = 10 * time.Second
	// DefaultMessageTimeout lets a 4 MiB message take two minutes, at
	// 35 KB/s.
	DefaultMessageTimeout = 2 * time.Minute
)

// streamWindow is the HTTP/2 flow-control window of each call: how much
// a client may send that no handler asked for. It is fixed, not grown by
// gRPC's bandwidth estimate, which a client can drive to 16 MiB per call;
// a handler that asks for a message opens the window to that message's
// length anyway, so uploads of whole messages are not slowed. The
// connection's window costs no memory (gRPC gives it back as bytes
// arrive, whoever takes them), so it is as large as that estimate would
// make it on a fast link.
const (
	streamWindow = 64 << 10
	connWindow   = 16 << 20
)

// Default sign-in limits. A sign-in takes two round trips when a program
// signs: 16 at once from one address leave room for many users behind one
// NAT, and 1024 in the hub for a busy one, while neither is much memory.
// The timeout leaves time for a person to approve the signature in a
// wallet (the JS clients' getTokenChallenge), which --handshake-timeout,
// meant for machines, would not.
const (
	DefaultMaxSignInsPerIP = 16
	DefaultMaxSignIns      = 1024
	DefaultSignInTimeout   = 30 * time.Second
)

// Server holds the gRPC server and its services.
type Server struct {
	auth      *auth.Service
	dbs       hub.ThreadServer
	mail      hub.MailServer
	buckets   hub.BucketServer
	meter     *metering.Meter
	usage     *metering.Reporter
	hostAddrs func() []ma.Multiaddr
	join      func(ctx context.Context, p hub.Principal, host ma.Multiaddr, id hub.ThreadID, key threads.Key, name string) error
	build     BuildInfo
	log       *slog.Logger
	metrics   *metrics
	grpc      *grpc.Server
	health    *health.Server
	limits    Limits

	// dropReplica is Services.DropReplica.
	dropReplica func(ctx context.Context, p hub.Principal, id hub.ThreadID) error
	// streams are the open streaming calls, counted against the caps and
	// ended when their principal's access is revoked.
	streams *streams
	// signins are the sign-ins in progress, counted by where they come
	// from instead.
	signins *signins
	// recv is the budget of request bytes received and not yet taken by
	// handlers (see Listener and Web).
	recv *recvBudget
	// stopRevoke ends the subscription to auth's revocations.
	stopRevoke func()
	// requirements names what credentials each method needs; New checks
	// that it names exactly the registered methods.
	requirements map[string]auth.Requirement
}

// New builds the server and registers every service. Metrics are
// registered with reg.
func New(svc Services, lim Limits, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	m, err := newMetrics(reg, svc.ListenReads)
	if err != nil {
		return nil, err
	}
	orDefault(&lim.UploadIdleTimeout, DefaultUploadIdleTimeout)
	orDefault(&lim.MaxSignInsPerIP, DefaultMaxSignInsPerIP)
	orDefault(&lim.MaxSignIns, DefaultMaxSignIns)
	orDefault(&lim.SignInTimeout, DefaultSignInTimeout)
	orDefault(&lim.MaxReceiveMemory, DefaultMaxReceiveMemory)
	orDefault(&lim.MaxReceiveMemoryPerIP, DefaultMaxReceiveMemoryPerIP)
	orDefault(&lim.ReceiveWait, DefaultReceiveWait)
	orDefault(&lim.MessageTimeout, DefaultMessageTimeout)
	orDefault(&lim.MaxHeaderBytes, DefaultMaxHeaderBytes)
	s := &Server{auth: svc.Auth, dbs: svc.DBs, meter: svc.Meter, usage: svc.Usage, mail: svc.Mail, buckets: svc.Buckets, hostAddrs: svc.HostAddrs, join: svc.Join, dropReplica: svc.DropReplica, build: svc.Build,
		log: log, metrics: m, health: health.NewServer(), requirements: map[string]auth.Requirement{},
		limits: lim}
	s.streams = newStreams(lim.MaxStreamsPerPrincipal, lim.MaxStreamsPerAccount, func(p hub.Principal) error {
		return s.auth.OrgAccess(context.Background(), p)
	})
	s.signins = newSignins(lim.MaxSignInsPerIP, lim.MaxSignIns)
	s.recv = newRecvBudget(lim.MaxReceiveMemory, lim.MaxReceiveMemoryPerIP, lim.ReceiveWait)
	if err := s.recv.register(reg); err != nil {
		return nil, err
	}
	pool, err := bufferPool()
	if err != nil {
		return nil, err
	}
	s.grpc = grpc.NewServer(
		grpc.StatsHandler(door{s}),
		grpc.ForceServerCodecV2(newCodec()),
		experimental.BufferPool(pool),
		grpc.ChainUnaryInterceptor(s.unary),
		grpc.ChainStreamInterceptor(s.stream),
		grpc.MaxRecvMsgSize(lim.MaxMessageSize),
		grpc.MaxHeaderListSize(uint32(lim.MaxHeaderBytes)),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
		grpc.MaxConcurrentStreams(uint32(lim.MaxStreamsPerConn)),
		grpc.ConnectionTimeout(lim.HandshakeTimeout),
		// A client that pings more often than every 10 s is told to go
		// away; one that stops answering pings is dropped.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: lim.IdleTimeout, Time: time.Minute, Timeout: 20 * time.Second}),
	)
	s.stopRevoke = svc.Auth.OnRevoke(s.streams.revoke)
	hubdpb.RegisterAPIServiceServer(s.grpc, &hubdService{s: s})
	threadspb.RegisterAPIServer(s.grpc, &threadsService{s: s})
	usersdpb.RegisterAPIServiceServer(s.grpc, &usersService{s: s})
	bucketsdpb.RegisterAPIServiceServer(s.grpc, &bucketsService{s: s})
	hubbucketspb.RegisterAPIServiceServer(s.grpc, &hubBucketsService{b: &bucketsService{s: s}})
	hubthreadspb.RegisterAPIServiceServer(s.grpc, &hubThreadsService{s: s})
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
	for method, req := range hubBucketsRequirements {
		s.requirements["/"+hubbucketspb.APIService_ServiceDesc.ServiceName+"/"+method] = req
	}
	for method, req := range hubThreadsRequirements {
		s.requirements["/"+hubthreadspb.APIService_ServiceDesc.ServiceName+"/"+method] = req
	}
	s.requirements["/grpc.health.v1.Health/Check"] = auth.Open
	s.requirements["/grpc.health.v1.Health/Watch"] = auth.Open
	s.requirements["/grpc.health.v1.Health/List"] = auth.Open
	if err := checkRequirements(s.grpc.GetServiceInfo(), s.requirements); err != nil {
		return nil, err
	}
	return s, nil
}

// orDefault sets a limit left zero (or negative) to its default.
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// checkRequirements makes sure the requirement tables name every method of
// the registered services, and nothing else: a method left out would
// silently need only an authenticated caller, and a misspelt one would
// leave the real method so.
func checkRequirements(services map[string]grpc.ServiceInfo, reqs map[string]auth.Requirement) error {
	const op errors.Op = "server.New"
	served := map[string]bool{}
	for name, info := range services {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			served[full] = true
			if _, ok := reqs[full]; !ok {
				return errors.Errorf(op, errors.Internal, "method %s has no entry in the requirement tables; say what credentials it needs", full)
			}
		}
	}
	for full := range reqs {
		if !served[full] {
			return errors.Errorf(op, errors.Internal, "the requirement tables name %s, which no registered service serves", full)
		}
	}
	return nil
}

// GRPC returns the gRPC server, to serve on a listener from Listener.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// Listener returns ln with its connections' incoming messages charged to
// the receive budget (see recvConn): the gRPC server must serve on it.
func (s *Server) Listener(ln net.Listener) net.Listener {
	return &recvListener{Listener: ln, budget: s.recv, msgTimeout: s.limits.MessageTimeout, log: s.log}
}

// Stop stops serving gRPC, waiting for calls in flight, and marks the
// health service as not serving.
func (s *Server) Stop() {
	s.health.Shutdown()
	s.grpc.GracefulStop()
	s.stopRevoke()
}
