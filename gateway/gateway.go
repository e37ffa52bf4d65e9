// Package gateway owns hubd's HTTP address (Routes): content at
// /ipfs/<cid>, /ipns/<bucket key>, /thread/<db>/buckets/<key> and bucket
// websites on <key>.<buckets domain>, all served by boxo's gateway handler
// over the hub's own blockstore; /health and /metrics; and the pages of
// the links hubd e-mails (links.go). The daemon only builds it and
// listens.
//
// Content responses carry CORS headers as kubo's gateway sends them, so
// browser apps can read them; the gateway only reads (GET, HEAD, and
// OPTIONS for preflights; anything else is 405).
//
// The gateway is offline: it reads only blocks this hub stores, through a
// blockservice with no exchange, so a CID the hub does not hold answers 404
// at once instead of waiting on the network.
//
// Bucket paths are served as /ipns/<key> paths inside boxo: a name system
// of our own resolves a bucket key to its current root, so boxo treats
// bucket contents as mutable (no immutable cache headers) while ETags,
// Range requests, directory listings, index.html and trustless responses
// (raw blocks, CAR) are boxo's. The bucket key's signed IPNS record, kept
// by package ipfsnet, is served for ?format=ipns-record and gives resolved
// names their TTL (names.go). /thread/<db>/buckets/<key>/p is rewritten
// to /ipns/<key>/p with the thread pinned in the request's context; boxo
// builds redirects and listing links from the original request URI, so
// they keep the /thread form.
//
// Private buckets are served decrypted, by the gateway itself rather than
// boxo (private.go), to a request with a link capability (?token=, as
// the bucket's links carry it) or a user token (Authorization: Bearer)
// whose identity has Reader on the path by the bucket API's own rules (a
// user of the bucket's account); /ipfs/ paths of their blocks give
// ciphertext.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/boxo/blockservice"
	bstore "github.com/ipfs/boxo/blockstore"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multibase"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/selfhub/hub/buckets"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// Buckets is what the gateway needs from the bucket service.
type Buckets interface {
	// GatewayRoot returns the bucket with key in DB thread, or in any DB
	// when thread is empty; NotExist when there is none. It checks no
	// access: the gateway does.
	GatewayRoot(ctx context.Context, thread threads.ID, key string) (buckets.GatewayBucket, error)
}

// Config configures the gateway.
type Config struct {
	// Blocks is the hub's blockstore; the gateway only reads it.
	Blocks bstore.Blockstore
	// Buckets resolves bucket keys.
	Buckets Buckets
	// Records are the signed IPNS records of bucket keys, served for
	// ?format=ipns-record; nil for none.
	Records Records
	// Metrics receives boxo's gateway metrics; nil for none.
	Metrics prometheus.Registerer
	// Log receives request errors worth a look; nil for none.
	Log *slog.Logger
	// Private opens private buckets and Tokens checks the links and
	// tokens that admit readers; with either nil, private buckets are refused (403).
	Private PrivateBuckets
	Tokens  Tokens
	// WWWDomain is the domain of bucket websites: a request for host
	// <key>.<WWWDomain> is served from that bucket's root, index.html
	// included. Empty for none.
	WWWDomain string
}

// Handler serves /ipfs/, /ipns/ and /thread/ paths.
type Handler struct {
	blocks bstore.Blockstore // Config.Blocks, with identity CIDs answered from the CID itself
	bkts   Buckets
	boxo   http.Handler
	cors   http.Handler // serve, with CORS headers on every response
	log    *slog.Logger
	priv   PrivateBuckets // nil: private buckets are refused
	tokens Tokens
	www    string // "." + Config.WWWDomain, lower case; empty for none
}

// RetrievalTimeout bounds the time to the first byte and between writes.
// Everything is local, so only a stuck disk or client trips it.
const RetrievalTimeout = 30 * time.Second

// New returns the gateway handler.
func New(cfg Config) (*Handler, error) {
	const op errors.Op = "gateway.New"
	if cfg.Blocks == nil || cfg.Buckets == nil {
		return nil, errors.E(op, errors.Invalid, "the gateway needs a blockstore and the bucket service")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := cfg.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry() // not the global one: hubs in one process must not collide
	}
	// An identity CID holds its block in itself: no store has it, and
	// the ID store answers it from the CID.
	blocks := bstore.NewIdStore(cfg.Blocks)
	// No exchange: a missing block is ipld.ErrNotFound at once (404).
	bs := blockservice.New(blocks, nil)
	opts := []boxogw.BackendOption{boxogw.WithNameSystem(names{cfg.Buckets, cfg.Records})}
	if cfg.Records != nil {
		opts = append(opts, boxogw.WithValueStore(recordStore{cfg.Records}))
	}
	backend, err := boxogw.NewBlocksBackend(bs, opts...)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	h := boxogw.NewHandler(boxogw.Config{
		DeserializedResponses: true,
		NoDNSLink:             true,
		DisableHTMLErrors:     true,
		RetrievalTimeout:      RetrievalTimeout,
		MetricsRegistry:       reg,
		DiagnosticServiceURL:  "", // error pages link to no outside service
	}, backend)
	www := ""
	if cfg.WWWDomain != "" {
		www = "." + strings.ToLower(strings.Trim(cfg.WWWDomain, "."))
	}
	gw := &Handler{blocks: blocks, bkts: cfg.Buckets, boxo: h, log: log, www: www, priv: cfg.Private, tokens: cfg.Tokens}
	// CORS as kubo's gateway sends it (boxo's defaults: any origin; GET,
	// HEAD and OPTIONS; the Content-Range, Ipfs-Uri and X-Ipfs-Roots
	// headers readable), so browser apps can fetch content. Authorization
	// is allowed too: a private bucket's reader sends its user token that
	// way, and a bearer token is no ambient credential another origin
	// could ride on.
	gw.cors = boxogw.NewHeaders(map[string][]string{"Access-Control-Allow-Headers": {"Authorization"}}).ApplyCors().Wrap(http.HandlerFunc(gw.serve))
	return gw, nil
}

// Website returns the bucket key of a request for a bucket website
// (host <key>.<WWWDomain>, any port), or false.
func (h *Handler) Website(r *http.Request) (key string, ok bool) {
	if h.www == "" {
		return "", false
	}
	host := r.Host
	if hp, _, err := net.SplitHostPort(host); err == nil {
		host = hp
	}
	key, ok = strings.CutSuffix(strings.ToLower(host), h.www)
	return key, ok && key != "" && !strings.Contains(key, ".")
}

// ServeHTTP serves a content request: GET and HEAD read, OPTIONS answers
// a CORS preflight, and any other method is refused (405), since the
// gateway writes nothing.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.cors.ServeHTTP(w, r)
}

// serve is ServeHTTP once the CORS headers are set.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.Header().Set("Allow", allowed)
		return
	default:
		w.Header().Set("Allow", allowed)
		httpError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed: the gateway only reads (GET, HEAD); change buckets through the bucket API")
		return
	}
	if key, ok := h.Website(r); ok {
		// Bucket keys are base36, so lower case loses nothing.
		h.serveBucket(w, r, "", key, "/ipns/"+key+r.URL.Path)
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/ipfs/"):
		// A root this hub lacks is 404 before boxo starts: boxo would
		// answer a CAR request 200 and then truncate the stream.
		// With Cache-Control: only-if-cached, boxo answers a missing root
		// 412, as the spec asks, before it starts any response.
		first, _, _ := strings.Cut(p[len("/ipfs/"):], "/")
		if c, err := cid.Decode(first); err == nil && r.Header.Get("Cache-Control") != "only-if-cached" {
			if ok, err := h.blocks.Has(r.Context(), c); err == nil && !ok {
				httpError(w, http.StatusNotFound, "CID "+c.String()+" is not on this hub; this gateway serves only what the hub stores")
				return
			}
		}
		h.boxo.ServeHTTP(w, r)
	case strings.HasPrefix(p, "/ipns/"):
		key, _, _ := strings.Cut(p[len("/ipns/"):], "/")
		if canonicalRedirect(w, r, "/ipns/", key) {
			return
		}
		h.serveBucket(w, r, "", key, "")
	case strings.HasPrefix(p, "/thread/"):
		// /thread/<db>/buckets/<key>[/rest]
		parts := strings.SplitN(p[len("/thread/"):], "/", 4)
		if len(parts) < 3 || parts[1] != "buckets" || parts[2] == "" {
			httpError(w, http.StatusNotFound, "not a bucket path: use /thread/<db>/buckets/<key>[/path]")
			return
		}
		if canonicalRedirect(w, r, "/thread/"+parts[0]+"/buckets/", parts[2]) {
			return
		}
		thread, err := threads.Decode(parts[0])
		if err != nil {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a thread ID; use the DB's ID from hub threads ls", errors.Clip(parts[0])))
			return
		}
		rest := ""
		if len(parts) == 4 {
			rest = "/" + parts[3]
		}
		h.serveBucket(w, r, thread, parts[2], "/ipns/"+parts[2]+rest)
	default:
		httpError(w, http.StatusNotFound, "no such page: content is under /ipfs/<cid>, /ipns/<key> and /thread/<db>/buckets/<key>")
	}
}

// allowed is the Allow header of gateway responses.
const allowed = "GET, HEAD, OPTIONS"

// canonicalRedirect answers 302 when key is an IPNS name in a form other
// than the canonical one, a CIDv1 libp2p-key in base36 (bucket keys are
// in that form): a peer ID (base58 multihash, 12D3Koo… or the CIDv0-like
// Qm…) or another base. The location keeps the rest of the path and
// the query. The request's path is prefix, key and the rest. It reports
// whether it answered.
func canonicalRedirect(w http.ResponseWriter, r *http.Request, prefix, key string) bool {
	id, err := peer.Decode(key)
	if err != nil {
		return false
	}
	canon, err := peer.ToCid(id).StringOfBase(multibase.Base36)
	if err != nil || canon == key {
		return false
	}
	u := *r.URL
	u.Path, u.RawPath = prefix+canon+u.Path[len(prefix)+len(key):], ""
	u.Scheme, u.Host = "", ""
	http.Redirect(w, r, u.String(), http.StatusFound)
	return true
}

// serveBucket resolves the bucket, refuses what the gateway may not serve,
// and hands the request to boxo with the root pinned in the context. A
// non-empty ipnsPath replaces the request's path for boxo.
func (h *Handler) serveBucket(w http.ResponseWriter, r *http.Request, thread threads.ID, key, ipnsPath string) {
	if err := buckets.CheckKey(key); err != nil {
		httpError(w, http.StatusBadRequest, errors.Message(err))
		return
	}
	b, err := h.bkts.GatewayRoot(r.Context(), thread, key)
	switch {
	case err != nil:
		h.fail(w, err, "bucket", "thread", thread, "key", key)
		return
	case b.Private && (h.priv == nil || h.tokens == nil):
		httpError(w, http.StatusForbidden, "bucket "+key+" is private and this gateway serves no private buckets: pull it with the hub client")
		return
	case b.Private:
		h.servePrivate(w, r, b, key, ipnsPath)
		return
	}
	r = r.WithContext(withBucket(r.Context(), key, b))
	if ipnsPath != "" {
		u := *r.URL
		u.Path, u.RawPath = ipnsPath, ""
		r.URL = &u
		// r.RequestURI stays: boxo builds redirects and listing links
		// from it, so they keep the /thread/... form.
	}
	h.boxo.ServeHTTP(w, r)
}

// fail answers err with the HTTP status of its kind. Anything else is
// the hub's fault: logged with args and answered 500, without details.
func (h *Handler) fail(w http.ResponseWriter, err error, what string, args ...any) {
	switch errors.KindOf(err) {
	case errors.Permission:
		httpError(w, http.StatusForbidden, errors.Message(err))
	case errors.NotExist:
		httpError(w, http.StatusNotFound, errors.Message(err))
	case errors.Invalid:
		httpError(w, http.StatusBadRequest, errors.Message(err))
	default:
		h.log.Warn("gateway: read the "+what, append(args, "err", err)...)
		httpError(w, http.StatusInternalServerError, "could not read the "+what+"; try again later")
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, msg, code)
}
