// Package daemon wires hubd together: it builds every component by hand
// from a Config, binds the listeners, serves, and shuts down in order.
package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/server"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/email"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/gateway"
	"github.com/selfhub/hub/identity"
	"github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/internal/netcap"
	"github.com/selfhub/hub/ipfsnet"
	"github.com/selfhub/hub/mail"
	"github.com/selfhub/hub/metering"
	"github.com/selfhub/hub/s3"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/db/jsfunc"
	"github.com/selfhub/hub/threads/logstore"
	"github.com/selfhub/hub/threads/replicate"
)

// Addrs are the addresses a running daemon listens on, with the ports
// chosen when the configuration asked for port 0.
type Addrs struct {
	API     string   // gRPC host:port
	Web     string   // gRPC-Web host:port
	Gateway string   // HTTP host:port
	S3      string   // S3-compatible API host:port
	P2P     []string // libp2p multiaddrs, each ending in /p2p/<peer ID>
}

// Daemon is a running hubd.
type Daemon struct {
	log    *slog.Logger
	store  *store.Store
	meter  *metering.Meter
	dbs    *db.Manager
	server *server.Server
	p2p    host.Host
	ipfs   *ipfsnet.Node // bitswap, DHT and IPNS records on p2p
	repl   *replicate.Service
	addrs  Addrs
	https  []*http.Server
	errc   chan error
	// background ends the daemon's background work (garbage collection);
	// gcDone is closed when the collector has stopped.
	background context.CancelFunc
	gcDone     chan struct{}
	// uploadsStop ends the collector of abandoned S3 multipart uploads;
	// uploadsDone is closed when it has stopped.
	uploadsStop context.CancelFunc
	uploadsDone chan struct{}
	// addedProcs is what Start added to GOMAXPROCS for the script
	// threads; Close takes it off again, so that daemons started one
	// after another in one process do not pile it up.
	addedProcs int
}

// Start builds and starts a daemon. It returns once every listener is bound
// and serving; Close stops it.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Repo, 0o700); err != nil {
		return nil, fmt.Errorf("repo %s: %w", cfg.Repo, err)
	}
	// d is not the named result: a failure returns nil, and the deferred
	// Close must still see what was built.
	d := &Daemon{log: log, errc: make(chan error, 4)}
	defer func() {
		if err != nil {
			d.Close(context.Background())
		}
	}()
	hostKey, err := identity.LoadOrCreate(filepath.Join(cfg.Repo, "identity.key"))
	if err != nil {
		return nil, err
	}
	if d.store, err = store.Open(filepath.Join(cfg.Repo, "store"), log); err != nil {
		return nil, err
	}
	d.meter = metering.New(d.store)
	// Scripts run on threads of their own (jsfunc), at most scriptProcs at
	// once; the Go runtime gets a scheduler slot (P) for each on top of
	// the cores, so that a running script never holds a slot request work
	// needs, and the kernel, which sees the script threads niced, decides
	// who runs. The budget's cores are those from before.
	cores := runtime.GOMAXPROCS(0)
	scriptProcs := cfg.ScriptMaxRunning
	if scriptProcs == 0 {
		scriptProcs = jsfunc.DefaultMaxRunning(cores)
	}
	scriptNice := cfg.ScriptNice
	if scriptNice == 0 {
		scriptNice = -1 // jsfunc: the hub's own priority
	}
	runtime.GOMAXPROCS(cores + scriptProcs)
	d.addedProcs = scriptProcs
	// One log store over the store's thread keys, with one table of
	// thread locks: ThreadDB writes through it, and the IPFS network
	// serves thread blocks from it.
	logs := logstore.NewStore(d.store)
	dbs := db.NewManager(db.Config{
		MaxDBsPerOwner:  cfg.MaxDBsPerOwner,
		MaxInstanceSize: cfg.MaxInstanceSize,
		Schemas:         db.SchemaLimits{MaxSize: cfg.SchemaMaxSize, MaxWork: cfg.SchemaMaxWork, Timeout: cfg.SchemaTimeout},
		Count:           d.meter.CountInstances,
		ListenCache:     cfg.ListenCacheSize,
		Scripts: jsfunc.Limits{
			Timeout:      cfg.ScriptTimeout,
			Memory:       cfg.ScriptMemory,
			MaxCallDepth: cfg.ScriptStack,
			Concurrency:  cfg.ScriptConcurrency,
			MaxRunning:   scriptProcs,
			Cores:        cores,
			Nice:         scriptNice,
			CPUShare:     float64(cfg.ScriptCPUShare) / 100,
			CPUWindow:    cfg.ScriptCPUWindow,
		},
	}, d.store, logs)
	d.dbs = dbs
	blocks, err := openBlocks(ctx, cfg, d.store, log)
	if err != nil {
		return nil, err
	}
	// A store an older hubd wrote is brought to this one's format before
	// anything reads or writes it.
	if err := d.store.Migrate(ctx, migrations(d.store, dbs, blocks, log), log); err != nil {
		return nil, err
	}

	// Listeners first: the e-mailed links need the HTTP address, which may
	// have been chosen by the system (port 0).
	apiLn, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("api-addr: %w", err)
	}
	webLn, err := net.Listen("tcp", cfg.WebAddr)
	if err != nil {
		apiLn.Close()
		return nil, fmt.Errorf("web-addr: %w", err)
	}
	gwLn, err := net.Listen("tcp", cfg.GatewayAddr)
	if err != nil {
		apiLn.Close()
		webLn.Close()
		return nil, fmt.Errorf("gateway-addr: %w", err)
	}
	s3Ln, err := net.Listen("tcp", cfg.S3Addr)
	if err != nil {
		apiLn.Close()
		webLn.Close()
		gwLn.Close()
		return nil, fmt.Errorf("s3-addr: %w", err)
	}
	d.addrs = Addrs{API: apiLn.Addr().String(), Web: webLn.Addr().String(), Gateway: gwLn.Addr().String(), S3: s3Ln.Addr().String()}
	linkBase := strings.TrimSuffix(cfg.ExternalURL, "/")
	if linkBase == "" {
		linkBase = "http://" + d.addrs.Gateway
	}

	var mailer auth.Mailer = email.Log{Logger: log}
	if cfg.SMTPAddr != "" {
		mailer = email.SMTP{Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUser, Password: cfg.SMTPPassword}
	}
	authSvc, err := auth.New(auth.Config{
		Dev:            cfg.Dev,
		SigMaxAhead:    cfg.SigMaxAhead,
		SessionTTL:     cfg.SessionTTL,
		TokenTTL:       cfg.TokenTTL,
		LinkTTL:        cfg.LinkTTL,
		MaxNewIDs:      cfg.MaxNewIDs,
		NewIDWindow:    cfg.NewIDWindow,
		ConfirmTimeout: cfg.ConfirmTimeout,
		LinkBase:       linkBase,
	}, d.store, mailer, hostKey)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if d.p2p, err = startP2P(hostKey, cfg.P2PAddr); err != nil {
		return nil, err
	}
	// Replication first: records a crash left unformed are handed on
	// once formed.
	d.repl = replicate.New(replicate.Config{
		MaxStreamsPerPeer: cfg.ReplMaxStreamsPerPeer,
		MaxFrame:          cfg.ReplMaxFrame,
		MaxMemory:         cfg.ReplMaxMemory,
		Batch:             cfg.ReplBatch,
		Interval:          cfg.ReplInterval,
		Timeout:           cfg.ReplTimeout,
		MaxPeers:          cfg.ReplMaxPeers,
		BanTime:           cfg.ReplBanTime,
		MaxReplicas:       cfg.ReplMaxReplicas,
		MaxReplicaBytes:   int64(cfg.ReplMaxReplicaBytes),
		Log:               log,
	}, d.p2p, d.store, logs, dbs)
	if n, err := dbs.ResumeForming(ctx, func(id threads.ID, err error) {
		log.Error("forming the records a crash left unformed", "db", id, "err", err)
	}); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("forming the records a crash left unformed", "dbs", n)
	}
	records, err := ipfsnet.NewRecords(d.store, cfg.IPNSValidity, cfg.IPNSTTL)
	if err != nil {
		return nil, err
	}
	bootstrap, err := ipfsnet.ParseBootstrap(cfg.IPFSBootstrap)
	if err != nil {
		return nil, err
	}
	// Thread blocks are served from the store in place.
	served := blockstore.NewServed(blocks, logs)
	if d.ipfs, err = ipfsnet.New(ipfsnet.Config{Host: d.p2p, Blocks: served, Records: records,
		DHT: ipfsnet.DHTMode(cfg.IPFSDHT), Bootstrap: bootstrap, Announce: cfg.IPFSAnnounce, Log: log}); err != nil {
		return nil, err
	}
	profile, err := buckets.ParseProfile(cfg.BucketProfile) // checked by Validate
	if err != nil {
		return nil, err
	}
	// The buckets and the gateway share one blockstore with its collector
	// beside it: what the gateway reads while a cycle runs is kept.
	collected := blockstore.NewGC(blocks)
	bkts := buckets.New(buckets.Config{GatewayURL: linkBase, WWWDomain: cfg.BucketsDomain, Quota: int64(cfg.BucketQuota), Profile: profile, DirCacheSize: dirCacheSize(cfg.DirCacheSize), Log: log, Publisher: d.ipfs,
		GCHoldTimeout: cfg.GCHoldTimeout, IssueLink: authSvc.IssueLink}, dbs, d.store, collected)
	d.ipfs.Run(bkts)
	content, err := gateway.New(gateway.Config{Blocks: collected, Buckets: bkts, Private: bkts, Tokens: authSvc, Records: records, Metrics: reg, Log: log, WWWDomain: cfg.BucketsDomain})
	if err != nil {
		return nil, err
	}
	if d.server, err = server.New(server.Services{
		Auth:        authSvc,
		DBs:         dbs,
		ListenReads: dbs.ListenReads,
		Meter:       d.meter,
		Usage:       metering.NewReporter(d.meter, metering.Sources{Users: authSvc.Users, Instances: dbs.StoredBytes, Buckets: bkts.StoredBytes, Replicas: d.repl.ReplicaBytes}),
		Mail:        mail.New(dbs, mail.Config{MaxMessageSize: cfg.MailMaxMessageSize, Rate: float64(cfg.MailRate), Burst: cfg.MailBurst}),
		Buckets:     bkts,
		HostAddrs:   d.hostAddrs,
		Join: func(ctx context.Context, p hub.Principal, host ma.Multiaddr, id hub.ThreadID, key threads.Key, name string) error {
			_, err := d.repl.Join(ctx, p, host, id, key, name)
			return err
		},
		DropReplica: d.repl.DropReplica,
		Build:       buildInfo(),
	}, server.Limits{
		MaxMessageSize:         cfg.MaxMessageSize,
		MaxStreamsPerConn:      cfg.MaxStreamsPerConn,
		MaxStreamsPerPrincipal: cfg.MaxStreamsPerPrincipal,
		MaxStreamsPerAccount:   cfg.MaxStreamsPerAccount,
		MaxSignInsPerIP:        cfg.MaxSignInsPerIP,
		MaxSignIns:             cfg.MaxSignIns,
		SignInTimeout:          cfg.SignInTimeout,
		IdleTimeout:            cfg.GRPCIdleTimeout,
		HandshakeTimeout:       cfg.HandshakeTimeout,
		WebPreAuthBytes:        cfg.WebPreAuthBytes,
		WebIdleTimeout:         cfg.WebIdleTimeout,
		WebWindow:              cfg.WebWindow,
		UploadIdleTimeout:      cfg.UploadIdleTimeout,
		MaxReceiveMemory:       int64(cfg.MaxReceiveMemory),
		MaxReceiveMemoryPerIP:  int64(cfg.MaxReceiveMemoryPerIP),
		ReceiveWait:            cfg.ReceiveWait,
		MessageTimeout:         cfg.MessageTimeout,
		MaxHeaderBytes:         cfg.HTTPMaxHeaderBytes,
	}, log, reg); err != nil {
		return nil, err
	}
	for _, a := range d.p2p.Addrs() {
		d.addrs.P2P = append(d.addrs.P2P, fmt.Sprintf("%s/p2p/%s", a, d.p2p.ID()))
	}

	d.collectGarbage(bkts, cfg.GCInterval)
	// Each listener caps its own connections, so that a flood of idle ones
	// on one never takes the file descriptors the others need.
	capped := func(ln net.Listener) net.Listener { return netcap.Listen(ln, cfg.MaxConns, cfg.MaxConnsPerIP) }
	go func() { d.errc <- d.server.GRPC().Serve(d.server.Listener(capped(apiLn))) }()
	d.serveHTTP(cfg, capped(webLn), d.server.Web())
	d.serveHTTP(cfg, capped(gwLn), gateway.Routes(content, authSvc, reg))
	// The S3 front end is one more user of the bucket contract, as the
	// caller its request was signed by.
	s3srv := s3.New(s3.Config{Auth: authSvc, Buckets: bkts, Threads: dbs,
		Objects: s3.NewObjectStore(d.store), Uploads: s3.NewUploads(d.store),
		DAG: blockstore.NewDAGService(collected), Hold: collected.Hold,
		MaxUploads: cfg.S3MaxUploads, MaxParts: cfg.S3MaxParts, UploadTTL: cfg.S3UploadTTL,
		Domain: cfg.S3Domain, Meter: d.meter, Log: log})
	d.serveHTTP(cfg, capped(s3Ln), s3srv)
	d.collectUploads(s3srv, cfg.S3UploadTTL)
	log.Info("hubd ready",
		"api", d.addrs.API, "web", d.addrs.Web, "gateway", d.addrs.Gateway, "s3", d.addrs.S3,
		"p2p", d.addrs.P2P, "repo", cfg.Repo, "blocks", blocksWhere(cfg), "dev", cfg.Dev)
	return d, nil
}

// openBlocks opens the store of bucket blocks cfg.Blocks names: files in
// a directory, <repo>/blocks by default, or objects in an S3-compatible
// store (see package blockstore). Thread blocks stay in the embedded
// store either way: they are small and written four per database write.
// An S3 store's objects are recorded in st, for the collector, unless st
// is nil (a store only read from).
func openBlocks(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) (blockstore.Blockstore, error) {
	s3cfg, err := cfg.blocksS3()
	if err != nil {
		return blockstore.Blockstore{}, err
	}
	if s3cfg != nil {
		s, err := blockstore.OpenS3(ctx, *s3cfg)
		if err != nil {
			return blockstore.Blockstore{}, fmt.Errorf("blocks: %s", errors.Message(err))
		}
		if st != nil {
			if err := s.KeepRecords(ctx, st, log); err != nil {
				return blockstore.Blockstore{}, fmt.Errorf("blocks: %s", errors.Message(err))
			}
		}
		if cfg.BlocksCache != "" {
			c, err := blockstore.OpenCache(cfg.BlocksCache, int64(cfg.BlocksCacheSize))
			if err != nil {
				return blockstore.Blockstore{}, fmt.Errorf("blocks-cache: %s", errors.Message(err))
			}
			s.UseCache(c)
		}
		return s.Blockstore(), nil
	}
	files, err := blockstore.OpenFiles(blocksWhere(cfg))
	if err != nil {
		return blockstore.Blockstore{}, err
	}
	return blockstore.New(files), nil
}

// blocksWhere is where bucket blocks live: cfg.Blocks, or the default
// directory.
func blocksWhere(cfg Config) string {
	if cfg.Blocks == "" {
		return filepath.Join(cfg.Repo, "blocks")
	}
	return cfg.Blocks
}

// collectGarbage deletes unreferenced bucket blocks every interval (never
// when 0) until Close.
func (d *Daemon) collectGarbage(bkts *buckets.Service, interval time.Duration) {
	if interval == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.background, d.gcDone = cancel, make(chan struct{})
	go func() {
		defer close(d.gcDone)
		bkts.RunGC(ctx, interval, func(st buckets.GCStats, err error) {
			if err != nil {
				d.log.Error("garbage collection", "err", err)
				return
			}
			d.log.Info("garbage collection", "roots", st.Roots, "blocks_kept", st.Marked, "blocks_deleted", st.Swept,
				"bytes_freed", st.FreedBytes, "true_sizes_deleted", st.Sizes, "waited", st.Waited, "uploads_outwaited", st.Outwaited, "took", st.Duration)
			for _, b := range st.Broken {
				d.log.Warn("garbage collection: a bucket's DAG is incomplete; what its missing blocks linked is not kept", "bucket", b)
			}
		})
	}()
}

// collectUploads aborts the S3 multipart uploads open longer than ttl,
// looking every ttl/8 (at most hourly), until Close.
func (d *Daemon) collectUploads(srv *s3.Server, ttl time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	d.uploadsStop, d.uploadsDone = cancel, make(chan struct{})
	go func() {
		defer close(d.uploadsDone)
		srv.RunUploadCollector(ctx, min(ttl/8+1, time.Hour))
	}()
}

// hostAddrs are the libp2p host's addresses, each ending in /p2p/<peer>.
func (d *Daemon) hostAddrs() []ma.Multiaddr {
	self, err := ma.NewComponent("p2p", d.p2p.ID().String())
	if err != nil {
		return nil
	}
	var out []ma.Multiaddr
	for _, a := range d.p2p.Addrs() {
		out = append(out, a.Encapsulate(self))
	}
	return out
}

// startP2P starts the libp2p host with the hub's identity.
func startP2P(key crypto.PrivKey, addrs []string) (host.Host, error) {
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(addrs...), libp2p.DisableRelay())
	if err != nil {
		return nil, fmt.Errorf("p2p-addr: %w", err)
	}
	return h, nil
}

// serveHTTP serves h on ln. Headers must come within the header timeout
// and idle keep-alive connections are closed; there is no ReadTimeout or
// WriteTimeout, which would cut long streams (a Listen over gRPC-Web, a
// large gateway download): websockets have their own idle deadline (see
// server.Web), and a connection that stalls holds only its own slot
// under the listener's cap.
func (d *Daemon) serveHTTP(cfg Config, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: cfg.HTTPHeaderTimeout, IdleTimeout: cfg.HTTPIdleTimeout,
		MaxHeaderBytes: cfg.HTTPMaxHeaderBytes, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	d.https = append(d.https, srv)
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			d.errc <- err
		}
	}()
}

// Addrs returns the addresses the daemon listens on.
func (d *Daemon) Addrs() Addrs { return d.addrs }

// Err returns a channel that receives the first error of a listener that
// stopped serving by itself.
func (d *Daemon) Err() <-chan error { return d.errc }

// Close stops serving, waits for calls in flight (until ctx ends) and
// closes the store.
func (d *Daemon) Close(ctx context.Context) error {
	for _, srv := range d.https {
		srv.Shutdown(ctx)
	}
	if d.server != nil {
		stopped := make(chan struct{})
		go func() { d.server.Stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			d.server.GRPC().Stop()
		}
	}
	if d.dbs != nil {
		// No call writes any more: form the records of the last writes,
		// so that a clean stop leaves none to form at the next start.
		if err := d.dbs.WaitRecords(ctx); err != nil {
			d.log.Error("forming the records of the last writes", "err", err)
		}
	}
	if d.background != nil {
		d.background()
		<-d.gcDone
	}
	if d.uploadsStop != nil {
		d.uploadsStop()
		<-d.uploadsDone
	}
	if d.repl != nil {
		d.repl.Close()
	}
	if d.ipfs != nil {
		d.ipfs.Close()
	}
	if d.p2p != nil {
		d.p2p.Close()
	}
	if d.meter != nil {
		if err := d.meter.Close(); err != nil {
			d.log.Error("flush usage counts", "err", err)
		}
	}
	if d.addedProcs > 0 {
		runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)-d.addedProcs))
		d.addedProcs = 0
	}
	if d.store != nil {
		return d.store.Close()
	}
	return nil
}

// NewLogger returns the structured logger cfg asks for, writing to w.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// dirCacheSize maps --dir-cache-size, where 0 turns the cache off, to
// buckets.Config.DirCacheSize, where 0 means the default.
func dirCacheSize(n int) int64 {
	if n == 0 {
		return -1
	}
	return int64(n)
}
