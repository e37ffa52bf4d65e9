// Package replicate replicates ThreadDB DBs between peers over libp2p
// (ProtocolID, wire.go). A DB's peers are the hubs it was joined from or
// that joined it (peers.go). At start and every Config.Interval the hub
// syncs every DB with each peer: it compares one digest over all log
// heads, and when they differ pulls the records it lacks and pushes the
// ones the peer lacks, a bounded batch per stream (sync.go), so writes
// made while a peer was away reach it when it is back. Whenever a DB's
// logs gain records, written here or received, the hub pushes them
// straight to each peer whose heads that sync established (pushNew), and
// syncs in full with the others.
//
// Records are applied through db.Manager.IngestBatch, which verifies them (the
// service key opens them, the log's key signed them, each extends its
// log's head) and applies them by ThreadDB's convergence rule, so every
// replica that holds the same records holds the same state. A record whose
// predecessor is missing is refused, and the gap is filled by pulling the
// log from where this hub's copy ends: no record is applied before those
// it follows. Only records synced to disk are handed on.
//
// Nothing a peer sends is trusted: every request proves that the peer
// holds the thread's service key, frames are capped, each peer gets a
// bounded number of streams at once and a deadline for each, the frames
// held in memory at once are bounded across all peers, and a peer
// that sends a record that does not verify is disconnected and refused
// for Config.BanTime.
package replicate

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/semaphore"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/logstore"
)

// Defaults for Config.
const (
	DefaultMaxStreamsPerPeer = 8
	DefaultMaxFrame          = 16 << 20
	DefaultMaxMemory         = 4 * DefaultMaxFrame
	DefaultBatch             = 256
	DefaultInterval          = time.Minute
	DefaultTimeout           = time.Minute
	DefaultMaxPeers          = 32
	DefaultBanTime           = time.Minute
	DefaultMaxReplicas       = 100
	DefaultMaxReplicaBytes   = 1 << 30
)

// Config holds the limits of a Service; zero fields take their defaults.
type Config struct {
	// MaxStreamsPerPeer caps the replication streams one peer may have
	// open to this hub at once; more are reset.
	MaxStreamsPerPeer int
	// MaxFrame caps a frame a peer sends: a record with its event.
	MaxFrame int
	// MaxMemory caps the bytes of record frames from peers held in
	// memory at once, across all peers and streams: without it, every
	// peer ID (they cost nothing to make) could hold MaxStreamsPerPeer
	// frames of MaxFrame bytes. A frame waits, within its stream's
	// deadline, until it fits. It is at least MaxFrame.
	MaxMemory int
	// Batch is the most records one stream carries.
	Batch int
	// Interval is how often every DB syncs with every peer.
	Interval time.Duration
	// Timeout bounds each stream. A sync with a peer takes as many
	// streams as it needs, one batch each, so a long catch-up goes on as
	// long as each batch comes in time.
	Timeout time.Duration
	// MaxPeers caps the peers stored for one thread.
	MaxPeers int
	// BanTime is how long a peer that sent a forged or malformed record
	// is refused.
	BanTime time.Duration
	// MaxReplicas caps the threads this hub replicates, holding their
	// service key only, for one account (a developer or org with all its
	// app's users), and MaxReplicaBytes the bytes of their records.
	MaxReplicas     int
	MaxReplicaBytes int64
	// Log receives refusals and failed syncs; nil discards them.
	Log *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxStreamsPerPeer, DefaultMaxStreamsPerPeer)
	def(&c.MaxFrame, DefaultMaxFrame)
	def(&c.MaxMemory, DefaultMaxMemory)
	c.MaxMemory = max(c.MaxMemory, c.MaxFrame)
	def(&c.Batch, DefaultBatch)
	def(&c.MaxPeers, DefaultMaxPeers)
	def(&c.MaxReplicas, DefaultMaxReplicas)
	if c.MaxReplicaBytes <= 0 {
		c.MaxReplicaBytes = DefaultMaxReplicaBytes
	}
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.BanTime <= 0 {
		c.BanTime = DefaultBanTime
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Service replicates the DBs of one hub on its libp2p host.
type Service struct {
	cfg   Config
	host  host.Host
	st    *store.Store
	logs  *logstore.Store
	dbs   *db.Manager
	peers peerStore
	// frames holds the bytes of MaxMemory that record frames being read
	// or ingested take (readRecordFrame).
	frames *semaphore.Weighted

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the goroutines below, syncs, and streams served

	// replicaMu serialises changes to replicas (replicas.go).
	replicaMu sync.Mutex

	// mu guards the fields below.
	mu sync.Mutex
	// inbound counts each peer's open streams.
	inbound map[peer.ID]int
	// banned holds, per peer refused, when the refusal ends.
	banned map[peer.ID]time.Time
	// syncs holds the sync running with each peer for each thread, and
	// whether another is due once it ends; idle (on mu) is told when one
	// ends, for claim.
	syncs map[syncKey]*due
	idle  *sync.Cond
	// known holds, per peer and thread, the heads of the logs the peer
	// is known to hold, by log: what this hub's last sync with it
	// established and pushed since. With it, new records are pushed
	// straight away, without comparing heads first (pushNew).
	known map[syncKey]map[string]head
	// announced are the threads whose logs gained records, waiting for
	// the announcer; wake tells it.
	announced map[threads.ID]bool
	wake      chan struct{}
}

// syncKey names a sync: one thread with one peer.
type syncKey struct {
	peer   peer.ID
	thread threads.ID
}

// due is what a running sync must do once it ends: run again, and whether
// in full (compare heads, pull and push) or only to push new records.
type due struct {
	again, full bool
}

// New starts replicating the DBs of dbs, whose threads logs keeps in st,
// on h: it serves ProtocolID, hears of new records from dbs, and syncs
// every thread with its peers now and every cfg.Interval. Close stops it.
func New(cfg Config, h host.Host, st *store.Store, logs *logstore.Store, dbs *db.Manager) *Service {
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, host: h, st: st, logs: logs, dbs: dbs, peers: peerStore{st},
		frames: semaphore.NewWeighted(int64(cfg.MaxMemory)),
		ctx:    ctx, cancel: cancel,
		inbound: map[peer.ID]int{}, banned: map[peer.ID]time.Time{}, syncs: map[syncKey]*due{}, known: map[syncKey]map[string]head{},
		announced: map[threads.ID]bool{}, wake: make(chan struct{}, 1)}
	s.idle = sync.NewCond(&s.mu)
	h.SetStreamHandler(ProtocolID, s.serve)
	dbs.OnRecords(s.announce)
	s.wg.Add(2)
	go s.announcer()
	go s.periodic()
	return s
}

// Close stops serving and syncing, and waits for the syncs and the
// peers' streams in flight, which it ends: once it returns, nothing of
// the service touches the store.
func (s *Service) Close() {
	s.dbs.OnRecords(nil)
	s.host.RemoveStreamHandler(ProtocolID)
	s.mu.Lock() // admit and kick add to wg under mu, unless closed
	s.cancel()
	s.idle.Broadcast() // a claim waiting gives up
	s.mu.Unlock()
	s.wg.Wait()
}

// announce notes that thread id's logs gained records. It does not block:
// the announcer syncs the thread with its peers.
func (s *Service) announce(id threads.ID) {
	s.mu.Lock()
	s.announced[id] = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// announcer syncs each announced thread with its peers.
func (s *Service) announcer() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		}
		s.mu.Lock()
		ids := s.announced
		s.announced = map[threads.ID]bool{}
		s.mu.Unlock()
		for id := range ids {
			s.syncThread(id, false)
		}
	}
}

// periodic syncs every thread with its peers now and every Interval.
func (s *Service) periodic() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		ids, err := s.peers.threads()
		if err != nil {
			s.cfg.Log.Error("replication: listing the threads with peers", "err", err)
		}
		for _, id := range ids {
			s.syncThread(id, true)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// syncThread starts a sync of thread id with each of its peers: in full,
// or, when full is false, only to push the thread's new records to the
// peers whose heads are known.
func (s *Service) syncThread(id threads.ID, full bool) {
	peers, err := s.peers.list(id)
	if err != nil {
		s.cfg.Log.Error("replication: listing a thread's peers", "thread", id, "err", err)
		return
	}
	for _, ai := range peers {
		s.kick(ai, id, full)
	}
}

// kick starts a sync of thread id with peer ai, in full or not (see
// syncThread), or, when one is running, has it run again once it ends:
// syncs with one peer for one thread never overlap, and none is lost.
func (s *Service) kick(ai peer.AddrInfo, id threads.ID, full bool) {
	k := syncKey{ai.ID, id}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return
	}
	if d, ok := s.syncs[k]; ok {
		d.again, d.full = true, d.full || full
		return
	}
	s.syncs[k] = new(due)
	s.loop(k, ai, full)
}

// errClosing is what a caller whose claim failed is told.
func errClosing() error { return errors.E(errors.Unavailable, "this host is shutting down") }

// claim marks a sync of k as running, for a caller that runs it itself
// (Join); the caller then calls done. A sync of k that runs already (one
// a record set off, say) is waited for: each run ends within Timeout.
// False once the Service is closing.
func (s *Service) claim(k syncKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.ctx.Err() != nil {
			return false
		}
		if _, ok := s.syncs[k]; !ok {
			break
		}
		s.idle.Wait()
	}
	s.syncs[k] = new(due)
	return true
}

// done ends a claimed sync, and starts it again in the background if it
// was kicked meanwhile.
func (s *Service) done(k syncKey, ai peer.AddrInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if again, full := s.next(k); again && s.ctx.Err() == nil {
		s.loop(k, ai, full)
	}
}

// loop syncs k, in full or not, until no kick asks for another run; the
// caller holds mu and has marked k as running.
func (s *Service) loop(k syncKey, ai peer.AddrInfo, full bool) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for again := true; again; {
			var err error
			if full || !s.pushNew(s.ctx, ai, k.thread) {
				err = s.syncWith(s.ctx, ai, k.thread)
			}
			if err != nil && s.ctx.Err() == nil {
				s.cfg.Log.Warn("replication: sync with a peer failed; it is tried again later", "thread", k.thread, "peer", ai.ID, "err", err)
			}
			s.mu.Lock()
			again, full = s.next(k)
			s.mu.Unlock()
		}
	}()
}

// next reports whether running sync k was kicked since it began, and
// whether in full, and clears the marks; when it was not, k is no longer
// running. The caller holds mu.
func (s *Service) next(k syncKey) (again, full bool) {
	d := s.syncs[k]
	if !d.again {
		delete(s.syncs, k)
		s.idle.Broadcast()
		return false, false
	}
	again, full = true, d.full
	*d = due{}
	return again, full
}
