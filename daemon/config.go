package daemon

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/selfhub/hub/api/server"
	"github.com/selfhub/hub/auth"
	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/ipfsnet"
	"github.com/selfhub/hub/mail"
	"github.com/selfhub/hub/s3"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/db/jsfunc"
	"github.com/selfhub/hub/threads/replicate"
)

// Default listen addresses.
const (
	DefaultAPIAddr     = "127.0.0.1:3006"
	DefaultWebAddr     = "127.0.0.1:3007"
	DefaultGatewayAddr = "127.0.0.1:8006"
	DefaultS3Addr      = "127.0.0.1:8007"
	DefaultP2PAddr     = "/ip4/0.0.0.0/tcp/4006,/ip4/0.0.0.0/udp/4006/quic-v1"
	DefaultRepoDir     = ".hubd" // under the user's home directory
)

// DefaultBlocksCacheSize is how many bytes --blocks-cache holds unless
// told otherwise: a few thousand blocks of the default profile.
const DefaultBlocksCacheSize = 1 << 30

// DefaultGCInterval is how often hubd collects unreferenced blocks: often
// enough that removed data frees disk within the hour, rarely enough that
// the scan of every bucket costs little.
const DefaultGCInterval = time.Hour

// Default connection limits of the listeners. Each listener has its own
// cap, so their sum, with the store's files and libp2p's connections, stays
// well under the usual hard limit on open files.
const (
	DefaultMaxConns           = 1024
	DefaultMaxConnsPerIP      = 128
	DefaultHTTPHeaderTimeout  = 10 * time.Second
	DefaultHTTPIdleTimeout    = 2 * time.Minute
	DefaultHTTPMaxHeaderBytes = 64 << 10
)

// Config is hubd's configuration. Every field has one name, used as the
// flag (--api-addr), the environment variable (HUBD_API_ADDR) and the key in
// the JSON config file ("api-addr"). Precedence: flags, then environment,
// then the config file, then the defaults.
type Config struct {
	Repo         string        `key:"repo" help:"data directory: the embedded store and the host's identity (default ~/.hubd)"`
	Config       string        `key:"config" help:"JSON config file whose keys are these flag names"`
	APIAddr      string        `key:"api-addr" help:"gRPC listen address, host:port (port 0 picks a free one)"`
	WebAddr      string        `key:"web-addr" help:"gRPC-Web (HTTP and websocket) listen address, host:port"`
	GatewayAddr  string        `key:"gateway-addr" help:"HTTP listen address for /health, /metrics and e-mailed links, host:port"`
	S3Addr       string        `key:"s3-addr" help:"S3-compatible API listen address, host:port"`
	S3Domain     string        `key:"s3-domain" help:"domain of virtual-hosted-style S3 requests, <bucket>.<domain> (unset: path-style only)"`
	S3MaxUploads int           `key:"s3-max-uploads" help:"most S3 multipart uploads one account may have open"`
	S3MaxParts   int           `key:"s3-max-parts" help:"most parts of one S3 multipart upload"`
	S3UploadTTL  time.Duration `key:"s3-upload-ttl" help:"how long an S3 multipart upload may stay open before hubd aborts it and releases its parts"`
	P2PAddr      []string      `key:"p2p-addr" help:"libp2p listen multiaddrs, comma-separated"`
	ExternalURL  string        `key:"external-url" help:"base URL of the HTTP address as users reach it, for e-mailed links (default http://<gateway-addr>)"`
	Dev          bool          `key:"dev" help:"development mode: sign-up and sign-in need no e-mail confirmation"`

	SMTPAddr     string `key:"smtp-addr" help:"SMTP server host:port for confirmation and invitation e-mail (unset: links go to the log)"`
	SMTPFrom     string `key:"smtp-from" help:"sender address of hubd's e-mail"`
	SMTPUser     string `key:"smtp-user" help:"SMTP user name (PLAIN auth), if the server needs one"`
	SMTPPassword string `key:"smtp-password" help:"SMTP password"`

	SigMaxAhead    time.Duration `key:"sig-max-ahead" help:"how far in the future an API signature may expire"`
	SessionTTL     time.Duration `key:"session-ttl" help:"how long a developer session lasts"`
	TokenTTL       time.Duration `key:"token-ttl" help:"how long a user token lasts; clients get a new one with GetToken (0: no expiry, as the original, and unsafe)"`
	LinkTTL        time.Duration `key:"link-ttl" help:"how long the read-only capability in a private bucket's links lasts"`
	ConfirmTimeout time.Duration `key:"confirm-timeout" help:"how long sign-up and sign-in wait for the e-mailed link"`

	MaxNewIDs   int           `key:"max-new-identities-per-app" help:"how many identities one app (the account owning the API key) may see for the first time per new-identities-window; GetToken for more is ResourceExhausted"`
	NewIDWindow time.Duration `key:"new-identities-window" help:"the window of max-new-identities-per-app, which refills steadily over it"`

	MaxDBsPerOwner  int           `key:"max-dbs-per-owner" help:"how many ThreadDB DBs one identity may own"`
	MaxInstanceSize int           `key:"max-instance-size" help:"largest ThreadDB instance, in bytes"`
	SchemaMaxSize   int           `key:"schema-max-size" help:"largest ThreadDB collection schema, in bytes"`
	SchemaMaxWork   int           `key:"schema-max-work" help:"most subschema checks one ThreadDB write may need (its values and keys times the most subschemas its collection's schema may apply to one value); schemas whose recursion multiplies the checks are refused"`
	SchemaTimeout   time.Duration `key:"schema-timeout" help:"how long checking one ThreadDB write against its collection's schema may take; past it the write is refused (DeadlineExceeded)"`

	ScriptTimeout     time.Duration `key:"script-timeout" help:"how long one call of a write validator or read filter may run"`
	ScriptMemory      int           `key:"script-memory" help:"most heap one write validator or read filter runtime may hold, in bytes"`
	ScriptStack       int           `key:"script-stack" help:"deepest nesting of calls (and of JSON.parse) in a write validator or read filter"`
	ScriptConcurrency int           `key:"script-concurrency" help:"how many validator and filter calls of one account run at once; more wait, up to ten times script-timeout"`
	ScriptMaxRunning  int           `key:"script-max-running" help:"how many validator and filter calls run at once in the whole hub, each on a thread of its own; script-memory times this bounds their memory (0: half the cores, GOMAXPROCS before hubd adds one for each script thread, at least 2)"`
	ScriptCPUShare    int           `key:"script-cpu-share" help:"percent of the hub's cores (GOMAXPROCS) the validator and filter calls of one account may keep busy, on average over script-cpu-window; an account over it waits, while other accounts' calls go first"`
	ScriptCPUWindow   time.Duration `key:"script-cpu-window" help:"the window over which script-cpu-share is averaged: about the longest burst of script time one account gets before its share holds it back"`
	ScriptNice        int           `key:"script-nice" help:"nice value (0 to 19) of the threads validator and filter calls run on, on Linux: the higher, the more the kernel runs requests first when both are ready (0: hubd's own priority)"`

	ListenCacheSize int `key:"listen-cache-size" help:"bytes of recent ThreadDB changes, decoded and encoded, that Listen streams share, so that a change sent to many listeners is read and encoded once"`

	MailMaxMessageSize int `key:"mail-max-message-size" help:"largest encrypted mailbox message body, in bytes"`
	MailRate           int `key:"mail-rate" help:"mailbox messages one sender may send per second, sustained"`
	MailBurst          int `key:"mail-burst" help:"mailbox messages one sender may send at once, before mail-rate applies"`

	Blocks        string        `key:"blocks" help:"where bucket blocks live: a directory (default <repo>/blocks) or s3://BUCKET/PREFIX?endpoint=URL&region=REGION&path-style=true, an S3-compatible object store reached with the credentials of the standard AWS environment and files"`
	BlocksUploads int           `key:"blocks-uploads" help:"how many block uploads (and deletes) to an s3:// blocks store run at once; each holds up to one block (at most 1 MiB with the default bucket profile) in memory"`
	BlocksTimeout time.Duration `key:"blocks-timeout" help:"how long one attempt of one request to an s3:// blocks store may take, its answer read included; a stalled attempt is retried"`
	// BlocksCache is only for an s3:// store: a local directory's blocks
	// are on the disk already.
	BlocksCache     string `key:"blocks-cache" help:"a directory (absolute) for copies of the blocks read from an s3:// blocks store, so that hot blocks are read from the local disk; unset: no cache"`
	BlocksCacheSize int    `key:"blocks-cache-size" help:"most bytes the blocks-cache directory holds; the least recently read blocks are evicted past it"`

	BucketsDomain string        `key:"buckets-domain" help:"domain under which bucket websites are linked as <key>.<domain> (unset: no www links)"`
	BucketProfile string        `key:"bucket-profile" help:"UnixFS import profile of bucket files: unixfs-v1-2025 (CIDv1, raw leaves, 1 MiB chunks) or unixfs-v0-2015"`
	BucketQuota   int           `key:"bucket-quota" help:"most bytes the buckets of one account may hold: a developer's or org's own and those of all its app's users together; 0: no limit"`
	GCInterval    time.Duration `key:"gc-interval" help:"how often blocks no bucket references are deleted; 0: never"`
	DirCacheSize  int           `key:"dir-cache-size" help:"most bytes of decoded bucket directories kept in memory, so a path's directories are not read and decoded again on every request; 0: none"`

	UploadIdleTimeout time.Duration `key:"upload-idle-timeout" help:"how long an upload (PushPath, PushPaths, ImportCar) may deliver nothing before hubd ends it, committing nothing"`
	GCHoldTimeout     time.Duration `key:"gc-hold-timeout" help:"how long a garbage collection waits for uploads that began before it; past it, it collects and keeps every block they touched"`

	IPFSDHT       string        `key:"ipfs-dht" help:"how hubd takes part in the IPFS DHT: auto (client until publicly reachable), client, server or off"`
	IPFSBootstrap []string      `key:"ipfs-bootstrap" help:"DHT peers to start from, comma-separated multiaddrs ending in /p2p/<peer ID> (none: hubd announces only to peers that find it)"`
	IPFSAnnounce  bool          `key:"ipfs-announce" help:"announce bucket roots as provider records on the DHT"`
	IPNSValidity  time.Duration `key:"ipns-validity" help:"how long a bucket's signed IPNS record stays valid; records are signed again before half of it passes"`
	IPNSTTL       time.Duration `key:"ipns-ttl" help:"how long resolvers may cache a bucket's IPNS record"`

	ReplMaxStreamsPerPeer int           `key:"repl-max-streams-per-peer" help:"thread replication streams one peer may have open to this hub at once; more are reset"`
	ReplMaxFrame          int           `key:"repl-max-frame" help:"largest thread replication frame (a record with its event) a peer may send, in bytes"`
	ReplMaxMemory         int           `key:"repl-max-memory" help:"bytes of thread replication frames held in memory at once, across all peers; a frame waits for room (at least repl-max-frame)"`
	ReplBatch             int           `key:"repl-batch" help:"most thread records one replication stream carries"`
	ReplInterval          time.Duration `key:"repl-interval" help:"how often every replicated DB syncs with each of its peers (it also syncs at start and on every write)"`
	ReplTimeout           time.Duration `key:"repl-timeout" help:"how long one replication stream (one batch of records) may take"`
	ReplMaxPeers          int           `key:"repl-max-peers" help:"most peers stored for one replicated DB"`
	ReplBanTime           time.Duration `key:"repl-ban-time" help:"how long a peer that sent a thread record that does not verify is refused"`
	ReplMaxReplicas       int           `key:"repl-max-replicas" help:"most threads this hub replicates with their service key only (as an app's replicator) for one account, its app's users included"`
	ReplMaxReplicaBytes   int           `key:"repl-max-replica-bytes" help:"most bytes of records the threads this hub replicates for one account may hold"`

	MaxConns               int           `key:"max-conns" help:"connections each of the gRPC, gRPC-Web and HTTP listeners holds open; past it new ones wait"`
	MaxConnsPerIP          int           `key:"max-conns-per-ip" help:"connections one remote IP may hold open on each listener; past it new ones are closed"`
	HandshakeTimeout       time.Duration `key:"handshake-timeout" help:"how long a new gRPC connection may take to finish its handshake, and a gRPC-Web call (websocket or plain) to start"`
	HTTPHeaderTimeout      time.Duration `key:"http-header-timeout" help:"how long an HTTP client may take to send a request's headers"`
	HTTPIdleTimeout        time.Duration `key:"http-idle-timeout" help:"how long an idle keep-alive HTTP connection is kept"`
	HTTPMaxHeaderBytes     int           `key:"http-max-header-bytes" help:"largest HTTP request header, and largest gRPC call metadata, in bytes"`
	GRPCIdleTimeout        time.Duration `key:"grpc-idle-timeout" help:"how long a gRPC connection with no call is kept"`
	MaxMessageSize         int           `key:"max-message-size" help:"largest gRPC or gRPC-Web request message, in bytes"`
	MaxStreamsPerConn      int           `key:"max-streams-per-conn" help:"concurrent calls on one gRPC connection"`
	MaxStreamsPerPrincipal int           `key:"max-streams-per-principal" help:"open streaming calls (Listen, transactions, pushes, pulls) of one identity"`
	MaxStreamsPerAccount   int           `key:"max-streams-per-account" help:"open streaming calls of one account with all its app users"`
	MaxSignInsPerIP        int           `key:"max-signins-per-ip" help:"sign-ins (GetToken) in progress from one remote IP (an IPv6 /64); they count against no app's streams"`
	MaxSignIns             int           `key:"max-signins" help:"sign-ins (GetToken) in progress in the whole hub"`
	SignInTimeout          time.Duration `key:"signin-timeout" help:"how long a sign-in (GetToken) may take, from the call to the challenge's signature"`
	WebPreAuthBytes        int           `key:"web-preauth-bytes" help:"bytes a gRPC-Web call (websocket or plain) may send before it is authenticated"`
	WebIdleTimeout         time.Duration `key:"web-idle-timeout" help:"how long a gRPC-Web websocket may pass with no byte either way (hubd pings every 20s)"`
	MaxReceiveMemory       int           `key:"max-receive-memory" help:"bytes of request messages hubd holds before their handlers take them, over all gRPC and gRPC-Web calls at once; a connection past it waits (at least max-message-size)"`
	MaxReceiveMemoryPerIP  int           `key:"max-receive-memory-per-ip" help:"bytes of request messages the calls from one remote IP (an IPv6 /64) may hold (at least max-message-size, at most max-receive-memory)"`
	ReceiveWait            time.Duration `key:"receive-wait" help:"how long a gRPC connection (or gRPC-Web call) may wait for room in max-receive-memory before hubd closes it"`
	MessageTimeout         time.Duration `key:"message-timeout" help:"how long one gRPC request message may take to arrive whole once its first bytes have; past it hubd closes the connection, saying why"`
	WebWindow              int           `key:"web-window" help:"bytes of a gRPC-Web call's messages hubd reads ahead of the handler before it stops reading (never less than max-message-size plus 5)"`

	LogLevel  string `key:"log-level" help:"debug, info, warn or error"`
	LogFormat string `key:"log-format" help:"text or json"`
}

// DefaultConfig returns the configuration hubd runs with when given none.
func DefaultConfig() Config {
	repo := DefaultRepoDir
	if home, err := os.UserHomeDir(); err == nil {
		repo = filepath.Join(home, DefaultRepoDir)
	}
	return Config{
		Repo:                   repo,
		APIAddr:                DefaultAPIAddr,
		WebAddr:                DefaultWebAddr,
		GatewayAddr:            DefaultGatewayAddr,
		S3Addr:                 DefaultS3Addr,
		S3MaxUploads:           s3.DefaultMaxUploads,
		S3MaxParts:             s3.DefaultMaxParts,
		S3UploadTTL:            s3.DefaultUploadTTL,
		P2PAddr:                strings.Split(DefaultP2PAddr, ","),
		SMTPFrom:               "hub@localhost",
		SigMaxAhead:            auth.DefaultSigMaxAhead,
		SessionTTL:             auth.DefaultSessionTTL,
		ConfirmTimeout:         auth.DefaultConfirmTimeout,
		TokenTTL:               auth.DefaultTokenTTL,
		LinkTTL:                auth.DefaultLinkTTL,
		MaxNewIDs:              auth.DefaultMaxNewIdentities,
		NewIDWindow:            auth.DefaultNewIdentitiesWindow,
		MaxDBsPerOwner:         db.DefaultMaxDBsPerOwner,
		MaxInstanceSize:        db.DefaultMaxInstanceSize,
		SchemaMaxSize:          db.DefaultSchemaMaxSize,
		SchemaMaxWork:          db.DefaultSchemaMaxWork,
		SchemaTimeout:          db.DefaultSchemaTimeout,
		ScriptTimeout:          jsfunc.DefaultTimeout,
		ScriptMemory:           jsfunc.DefaultMemory,
		ScriptStack:            jsfunc.DefaultMaxCallDepth,
		ScriptConcurrency:      jsfunc.DefaultConcurrency,
		ScriptCPUShare:         int(100 * jsfunc.DefaultCPUShare),
		ScriptCPUWindow:        jsfunc.DefaultCPUWindow,
		ScriptNice:             jsfunc.DefaultNice,
		ListenCacheSize:        db.DefaultListenCache,
		MailMaxMessageSize:     mail.DefaultMaxMessageSize,
		MailRate:               mail.DefaultRate,
		MailBurst:              mail.DefaultBurst,
		BlocksUploads:          blockstore.DefaultS3Uploads,
		BlocksTimeout:          blockstore.DefaultS3Timeout,
		BlocksCacheSize:        DefaultBlocksCacheSize,
		BucketQuota:            buckets.DefaultQuota,
		GCInterval:             DefaultGCInterval,
		UploadIdleTimeout:      server.DefaultUploadIdleTimeout,
		GCHoldTimeout:          buckets.DefaultGCHoldTimeout,
		BucketProfile:          buckets.DefaultProfile,
		DirCacheSize:           buckets.DefaultDirCacheSize,
		MaxConns:               DefaultMaxConns,
		MaxConnsPerIP:          DefaultMaxConnsPerIP,
		HandshakeTimeout:       server.DefaultHandshakeTimeout,
		HTTPHeaderTimeout:      DefaultHTTPHeaderTimeout,
		HTTPIdleTimeout:        DefaultHTTPIdleTimeout,
		HTTPMaxHeaderBytes:     DefaultHTTPMaxHeaderBytes,
		GRPCIdleTimeout:        server.DefaultIdleTimeout,
		MaxMessageSize:         server.DefaultMaxMessageSize,
		MaxStreamsPerConn:      server.DefaultMaxStreamsPerConn,
		MaxStreamsPerPrincipal: server.DefaultMaxStreamsPerPrincipal,
		MaxStreamsPerAccount:   server.DefaultMaxStreamsPerAccount,
		MaxSignInsPerIP:        server.DefaultMaxSignInsPerIP,
		MaxSignIns:             server.DefaultMaxSignIns,
		SignInTimeout:          server.DefaultSignInTimeout,
		WebPreAuthBytes:        server.DefaultWebPreAuthBytes,
		WebIdleTimeout:         server.DefaultWebIdleTimeout,
		WebWindow:              server.DefaultWebWindow,
		MaxReceiveMemory:       server.DefaultMaxReceiveMemory,
		MaxReceiveMemoryPerIP:  server.DefaultMaxReceiveMemoryPerIP,
		ReceiveWait:            server.DefaultReceiveWait,
		MessageTimeout:         server.DefaultMessageTimeout,
		ReplMaxStreamsPerPeer:  replicate.DefaultMaxStreamsPerPeer,
		ReplMaxFrame:           replicate.DefaultMaxFrame,
		ReplMaxMemory:          replicate.DefaultMaxMemory,
		ReplBatch:              replicate.DefaultBatch,
		ReplInterval:           replicate.DefaultInterval,
		ReplTimeout:            replicate.DefaultTimeout,
		ReplMaxPeers:           replicate.DefaultMaxPeers,
		ReplBanTime:            replicate.DefaultBanTime,
		ReplMaxReplicas:        replicate.DefaultMaxReplicas,
		ReplMaxReplicaBytes:    replicate.DefaultMaxReplicaBytes,
		LogLevel:               "info",
		LogFormat:              "text",
		IPFSDHT:                string(ipfsnet.DHTAuto),
		IPFSAnnounce:           true,
		IPNSValidity:           ipfsnet.DefaultValidity,
		IPNSTTL:                ipfsnet.DefaultTTL,
	}
}

// LoadConfig builds the configuration from the defaults, the config file
// (named by --config or HUBD_CONFIG), the environment and the flags in
// args, and validates it. It returns flag.ErrHelp for -h and --help.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	// The flags are parsed into a scratch copy first: they are applied last,
	// but the config file they may name must be read before them.
	scratch := DefaultConfig()
	fs := flag.NewFlagSet("hubd", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	for _, f := range configFields(&scratch) {
		fs.Var(f, f.key, f.help)
	}
	if err := fs.Parse(args); err == flag.ErrHelp {
		return Config{}, err
	} else if err != nil {
		return Config{}, fmt.Errorf("%w\n\n%s", err, Usage())
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q; hubd takes only flags", fs.Arg(0))
	}
	flagVals := map[string]string{}
	fs.Visit(func(f *flag.Flag) { flagVals[f.Name] = f.Value.String() })

	cfg := DefaultConfig()
	fields := configFields(&cfg)
	file := getenv("HUBD_CONFIG")
	if v, ok := flagVals["config"]; ok {
		file = v
	}
	if file != "" {
		if err := loadConfigFile(file, fields); err != nil {
			return Config{}, err
		}
	}
	for _, f := range fields {
		if v := getenv(f.env()); v != "" {
			if err := f.Set(v); err != nil {
				return Config{}, fmt.Errorf("environment %s: %w", f.env(), err)
			}
		}
	}
	for _, f := range fields {
		if v, ok := flagVals[f.key]; ok {
			if err := f.Set(v); err != nil {
				return Config{}, fmt.Errorf("flag --%s: %w", f.key, err)
			}
		}
	}
	cfg.Config = file
	return cfg, cfg.Validate()
}

// loadConfigFile sets fields from a JSON object keyed by flag name. Unknown
// keys are refused, so a misspelt setting is never silently ignored.
func loadConfigFile(file string, fields []*configField) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("config file %s: not a JSON object: %w", file, err)
	}
	byKey := map[string]*configField{}
	for _, f := range fields {
		byKey[f.key] = f
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, ok := byKey[k]
		if !ok || k == "config" {
			return fmt.Errorf("config file %s: unknown key %q (keys are the flag names, such as \"api-addr\")", file, k)
		}
		var val any
		if err := json.Unmarshal(m[k], &val); err != nil {
			return fmt.Errorf("config file %s: key %q: %w", file, k, err)
		}
		var s string
		switch v := val.(type) {
		case string:
			s = v
		case []any:
			parts := make([]string, len(v))
			for i, e := range v {
				parts[i] = fmt.Sprint(e)
			}
			s = strings.Join(parts, ",")
		default:
			s = string(m[k])
		}
		if err := f.Set(s); err != nil {
			return fmt.Errorf("config file %s: key %q: %w", file, k, err)
		}
	}
	return nil
}

// Validate checks the configuration and says what to fix.
func (c Config) Validate() error {
	if c.Repo == "" {
		return fmt.Errorf("repo: set a data directory")
	}
	for _, a := range []struct{ key, addr string }{{"api-addr", c.APIAddr}, {"web-addr", c.WebAddr}, {"gateway-addr", c.GatewayAddr}, {"s3-addr", c.S3Addr}} {
		if _, port, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s: %q is not host:port: %v", a.key, a.addr, err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return fmt.Errorf("%s: %q has no valid port", a.key, a.addr)
		}
	}
	for _, a := range c.P2PAddr {
		if _, err := ma.NewMultiaddr(a); err != nil {
			return fmt.Errorf("p2p-addr: %q is not a multiaddr: %v", a, err)
		}
	}
	if _, err := ipfsnet.ParseDHTMode(c.IPFSDHT); err != nil {
		return fmt.Errorf("ipfs-dht: %s", errors.Message(err))
	}
	if _, err := ipfsnet.ParseBootstrap(c.IPFSBootstrap); err != nil {
		return fmt.Errorf("ipfs-bootstrap: %s", errors.Message(err))
	}
	if c.IPNSValidity < ipfsnet.MinValidity {
		return fmt.Errorf("ipns-validity: %s is too short; use at least %s", c.IPNSValidity, ipfsnet.MinValidity)
	}
	if c.IPNSTTL < 0 {
		return fmt.Errorf("ipns-ttl: must not be negative")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log-format: %q is not text or json", c.LogFormat)
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"sig-max-ahead", c.SigMaxAhead}, {"session-ttl", c.SessionTTL}, {"confirm-timeout", c.ConfirmTimeout},
		{"upload-idle-timeout", c.UploadIdleTimeout}, {"gc-hold-timeout", c.GCHoldTimeout},
		{"link-ttl", c.LinkTTL}, {"new-identities-window", c.NewIDWindow},
		{"handshake-timeout", c.HandshakeTimeout}, {"http-header-timeout", c.HTTPHeaderTimeout}, {"http-idle-timeout", c.HTTPIdleTimeout},
		{"grpc-idle-timeout", c.GRPCIdleTimeout}, {"web-idle-timeout", c.WebIdleTimeout}, {"signin-timeout", c.SignInTimeout}, {"receive-wait", c.ReceiveWait}, {"message-timeout", c.MessageTimeout},
		{"schema-timeout", c.SchemaTimeout}, {"blocks-timeout", c.BlocksTimeout}, {"s3-upload-ttl", c.S3UploadTTL},
		{"repl-interval", c.ReplInterval}, {"repl-timeout", c.ReplTimeout}, {"repl-ban-time", c.ReplBanTime}} {
		if d.d <= 0 {
			return fmt.Errorf("%s: must be positive, not %s", d.key, d.d)
		}
	}
	if c.MaxNewIDs < 1 {
		return fmt.Errorf("max-new-identities-per-app: must be positive, not %d", c.MaxNewIDs)
	}
	if c.MaxDBsPerOwner < 1 || c.MaxInstanceSize < 1 {
		return fmt.Errorf("max-dbs-per-owner and max-instance-size must be positive")
	}
	if c.SchemaMaxSize < 1 || c.SchemaMaxWork < 1 {
		return fmt.Errorf("schema-max-size and schema-max-work must be positive")
	}
	if c.ScriptTimeout <= 0 || c.ScriptMemory < 1<<20 || c.ScriptStack < 1 || c.ScriptConcurrency < 1 || c.ScriptMaxRunning < 0 {
		return fmt.Errorf("script-timeout, script-stack and script-concurrency must be positive, script-max-running not negative (0: half the cores), and script-memory at least 1048576")
	}
	if c.ScriptCPUShare < 1 || c.ScriptCPUShare > 100 {
		return fmt.Errorf("script-cpu-share: must be a percentage from 1 to 100, not %d", c.ScriptCPUShare)
	}
	if c.ScriptCPUWindow <= 0 {
		return fmt.Errorf("script-cpu-window: must be positive, not %s", c.ScriptCPUWindow)
	}
	if c.ScriptNice < 0 || c.ScriptNice > 19 {
		return fmt.Errorf("script-nice: must be a nice value from 0 to 19, not %d", c.ScriptNice)
	}
	if c.ListenCacheSize < 1 {
		return fmt.Errorf("listen-cache-size: must be positive, not %d", c.ListenCacheSize)
	}
	if c.MailMaxMessageSize < 1 || c.MailRate < 1 || c.MailBurst < 1 {
		return fmt.Errorf("mail-max-message-size, mail-rate and mail-burst must be positive")
	}
	if c.TokenTTL < 0 {
		return fmt.Errorf("token-ttl: must not be negative")
	}
	if _, err := c.blocksS3(); err != nil {
		return err
	}
	if c.BlocksUploads < 1 {
		return fmt.Errorf("blocks-uploads: must be positive, not %d", c.BlocksUploads)
	}
	if c.BlocksCache != "" {
		if s3, _ := c.blocksS3(); s3 == nil {
			return fmt.Errorf("blocks-cache: only an s3:// blocks store has a cache; blocks in a directory are read from the disk already")
		}
		if !filepath.IsAbs(c.BlocksCache) {
			return fmt.Errorf("blocks-cache: %q is not an absolute directory", c.BlocksCache)
		}
	}
	if c.BlocksCacheSize < 1 {
		return fmt.Errorf("blocks-cache-size: must be positive, not %d", c.BlocksCacheSize)
	}
	if _, err := buckets.ParseProfile(c.BucketProfile); err != nil {
		return fmt.Errorf("bucket-profile: %s", errors.Message(err))
	}
	if c.BucketQuota < 0 || c.GCInterval < 0 || c.DirCacheSize < 0 {
		return fmt.Errorf("bucket-quota, gc-interval and dir-cache-size must not be negative (0 turns them off)")
	}
	for _, n := range []struct {
		key string
		n   int
	}{{"max-conns", c.MaxConns}, {"max-conns-per-ip", c.MaxConnsPerIP}, {"http-max-header-bytes", c.HTTPMaxHeaderBytes},
		{"max-message-size", c.MaxMessageSize}, {"max-streams-per-conn", c.MaxStreamsPerConn},
		{"max-streams-per-principal", c.MaxStreamsPerPrincipal}, {"max-streams-per-account", c.MaxStreamsPerAccount},
		{"max-signins-per-ip", c.MaxSignInsPerIP}, {"max-signins", c.MaxSignIns},
		{"web-preauth-bytes", c.WebPreAuthBytes}, {"web-window", c.WebWindow},
		{"s3-max-uploads", c.S3MaxUploads}, {"s3-max-parts", c.S3MaxParts},
		{"repl-max-streams-per-peer", c.ReplMaxStreamsPerPeer}, {"repl-max-frame", c.ReplMaxFrame}, {"repl-batch", c.ReplBatch},
		{"repl-max-peers", c.ReplMaxPeers}, {"repl-max-replicas", c.ReplMaxReplicas}, {"repl-max-replica-bytes", c.ReplMaxReplicaBytes}} {
		if n.n < 1 {
			return fmt.Errorf("%s: must be positive, not %d", n.key, n.n)
		}
	}
	if c.MaxReceiveMemoryPerIP < c.MaxMessageSize || c.MaxReceiveMemory < c.MaxReceiveMemoryPerIP {
		return fmt.Errorf("max-receive-memory-per-ip: must hold one message of max-message-size (%d bytes) and fit in max-receive-memory (%d), not %d", c.MaxMessageSize, c.MaxReceiveMemory, c.MaxReceiveMemoryPerIP)
	}
	if c.ReplMaxMemory < c.ReplMaxFrame {
		return fmt.Errorf("repl-max-memory: must hold one frame of repl-max-frame (%d bytes), not %d", c.ReplMaxFrame, c.ReplMaxMemory)
	}
	if c.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.SMTPAddr); err != nil {
			return fmt.Errorf("smtp-addr: %q is not host:port", c.SMTPAddr)
		}
		if c.SMTPFrom == "" {
			return fmt.Errorf("smtp-from: set the sender address for e-mail")
		}
	}
	return nil
}

// blocksS3 returns the object store Blocks names, or nil for a
// directory.
func (c Config) blocksS3() (*blockstore.S3Config, error) {
	if !strings.Contains(c.Blocks, ":") {
		if c.Blocks != "" && !filepath.IsAbs(c.Blocks) {
			return nil, fmt.Errorf("blocks: %q is neither an absolute directory nor an s3:// URL", c.Blocks)
		}
		return nil, nil
	}
	s3, err := blockstore.ParseS3URL(c.Blocks)
	if err != nil {
		return nil, fmt.Errorf("blocks: %s", errors.Message(err))
	}
	s3.Uploads, s3.Timeout = c.BlocksUploads, c.BlocksTimeout
	return &s3, nil
}

// Usage describes every setting with its flag, environment variable and
// default.
func Usage() string {
	var b strings.Builder
	b.WriteString("Usage: hubd [flags]\n\nEach flag can also be set by its HUBD_ environment variable or by its key in the --config JSON file.\n\n")
	def := DefaultConfig()
	for _, f := range configFields(&def) {
		fmt.Fprintf(&b, "  --%s (%s)\n      %s", f.key, f.env(), f.help)
		if v := f.String(); v != "" && v != "false" && v != "0s" {
			fmt.Fprintf(&b, " [default %s]", v)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// configField is one settable field of Config, as a flag.Value.
type configField struct {
	key, help string
	v         reflect.Value
}

// configFields lists cfg's fields in declaration order. This is the one
// place that turns the struct into flags, environment names and file keys.
func configFields(cfg *Config) []*configField {
	rv := reflect.ValueOf(cfg).Elem()
	rt := rv.Type()
	out := make([]*configField, 0, rt.NumField())
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		out = append(out, &configField{key: sf.Tag.Get("key"), help: sf.Tag.Get("help"), v: rv.Field(i)})
	}
	return out
}

// env is the field's environment variable: HUBD_ and the key in upper case
// with '_' for '-'.
func (f *configField) env() string {
	return "HUBD_" + strings.ToUpper(strings.ReplaceAll(f.key, "-", "_"))
}

func (f *configField) String() string {
	if !f.v.IsValid() {
		return ""
	}
	switch v := f.v.Interface().(type) {
	case []string:
		return strings.Join(v, ",")
	default:
		return fmt.Sprint(v)
	}
}

// IsBoolFlag lets bool fields be set as a bare --dev.
func (f *configField) IsBoolFlag() bool { return f.v.Kind() == reflect.Bool }

func (f *configField) Set(s string) error {
	switch f.v.Interface().(type) {
	case string:
		f.v.SetString(s)
	case bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.v.SetBool(b)
	case int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		f.v.SetInt(int64(n))
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 30s, 10m or 720h", s)
		}
		f.v.SetInt(int64(d))
	case []string:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported setting type %s", f.v.Type())
	}
	return nil
}
