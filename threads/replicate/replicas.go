package replicate

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/logstore"
)

// A replica is a thread this hub keeps for someone with its service key
// only, as the replicator an app added (Join with a service key): it
// verifies each record (the service key opens it, the log's key signed it,
// it extends its log) and that its event's blocks are all there, stores it
// and hands it on to the thread's other peers, and can read no event. It
// has no DB: nothing is applied. Each replica is kept for the account that
// added it, and its records' bytes count against that account:
//
//	thr/r/t/<thread>  → replicaJSON
//	thr/r/a/<account> → usageJSON: the account's replicas and their bytes
//
// Both change in one batch under Service.replicaMu, which also serialises
// the ingests of all replicas, as the log store asks of its writers.
type replicaJSON struct {
	Owner     hub.PubKey `json:"owner"`
	Account   hub.PubKey `json:"account"`
	Bytes     int64      `json:"bytes"`
	CreatedAt int64      `json:"createdAt"` // Unix ns
}

// usageJSON is what an account's replicas take.
type usageJSON struct {
	Threads int   `json:"threads"`
	Bytes   int64 `json:"bytes"`
}

func replicaKey(id threads.ID) []byte { return store.Key(store.ThreadReplicas, "t", id.String()) }
func usageKey(account hub.PubKey) []byte {
	return store.Key(store.ThreadReplicas, "a", string(account))
}

// getOr reads key into v, leaving v as it is when there is no such key.
func (s *Service) getOr(key []byte, v any) error {
	if err := s.st.Get(key, v); err != nil && !errors.Is(errors.NotExist, err) {
		return err
	}
	return nil
}

// readReplica reads replica id and its account's usage; NotExist when id
// is not a replica. The caller holds replicaMu.
func (s *Service) readReplica(id threads.ID) (replicaJSON, usageJSON, error) {
	var r replicaJSON
	var u usageJSON
	if err := s.st.Get(replicaKey(id), &r); err != nil {
		return r, u, err
	}
	err := s.getOr(usageKey(r.Account), &u)
	return r, u, err
}

// replicate makes this hub the replicator of thread id for p, holding key
// (a service key only), with peer ai as its first peer, and pulls the
// thread's records from it. Like Join, it returns once they are here, and
// keeps nothing when it fails.
func (s *Service) replicate(ctx context.Context, p hub.Principal, ai peer.AddrInfo, id threads.ID, key threads.Key) error {
	const op errors.Op = "replicate.Replicate"
	if p.Owner() == "" || p.Account == "" {
		return errors.E(op, errors.Unauthenticated, "adding this hub as a thread's replicator needs an API key (an account key, or a user group key with a user's token)")
	}
	if err := id.Validate(); err != nil {
		return errors.E(op, errors.Invalid, err)
	}
	if err := s.addReplica(p, id, key); err != nil {
		return errors.E(op, err)
	}
	k := syncKey{ai.ID, id}
	if !s.claim(k) {
		return errors.E(op, s.undoReplica(id, errClosing()))
	}
	err := s.peers.add(id, ai.ID, ai.Addrs, s.cfg.MaxPeers)
	if err == nil {
		err = s.syncWith(ctx, ai, id)
	}
	s.done(k, ai)
	if err != nil {
		return errors.E(op, s.undoReplica(id, err))
	}
	return nil
}

// addReplica stores thread id, with key, as a replica kept for p.
func (s *Service) addReplica(p hub.Principal, id threads.ID, key threads.Key) error {
	s.replicaMu.Lock()
	defer s.replicaMu.Unlock()
	if _, err := s.logs.Thread(id); err == nil {
		return errors.Errorf("", errors.Exist, "this hub holds thread %s already", id)
	} else if !errors.Is(errors.NotExist, err) {
		return err
	}
	var u usageJSON
	if err := s.getOr(usageKey(p.Account), &u); err != nil {
		return err
	}
	if u.Threads >= s.cfg.MaxReplicas {
		return errors.Errorf("", errors.Exhausted, "this hub replicates %d threads for your account, its limit; it replicates no more", u.Threads)
	}
	now := time.Now()
	b := s.st.NewBatch()
	if err := s.logs.CreateThread(b, logstore.Info{ID: id, Key: key.ServiceOnly(), CreatedAt: now}); err != nil {
		return err
	}
	u.Threads++
	b.Put(replicaKey(id), replicaJSON{Owner: p.Owner(), Account: p.Account, CreatedAt: now.UnixNano()})
	b.Put(usageKey(p.Account), u)
	return b.Commit()
}

// undoReplica forgets replica id, its records and its peers, and gives its
// account back what it took; it returns why, for a failed replicate.
func (s *Service) undoReplica(id threads.ID, why error) error {
	s.replicaMu.Lock()
	defer s.replicaMu.Unlock()
	if err := s.forgetReplica(id, nil); err != nil {
		s.cfg.Log.Error("replication: forgetting a replica whose start failed", "thread", id, "err", err)
	}
	return why
}

// DropReplica stops replicating thread id for p: the thread, its records
// and its peers are deleted, and p's account no longer counts them.
// NotExist when this hub keeps no such replica for p (another account's
// is NotExist too, so thread IDs do not leak).
func (s *Service) DropReplica(ctx context.Context, p hub.Principal, id threads.ID) error {
	const op errors.Op = "replicate.DropReplica"
	s.replicaMu.Lock()
	defer s.replicaMu.Unlock()
	if err := s.forgetReplica(id, &p); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// forgetReplica deletes replica id, when it is kept for p (nil: for
// anyone), and gives its account back what it took. The caller holds
// replicaMu.
func (s *Service) forgetReplica(id threads.ID, p *hub.Principal) error {
	r, u, err := s.readReplica(id)
	if err == nil && p != nil && (r.Account != p.Account || r.Owner != p.Owner()) {
		err = errors.E(errors.NotExist)
	}
	if errors.Is(errors.NotExist, err) {
		return errors.Errorf("", errors.NotExist, "this hub replicates no thread %s for you", id)
	}
	if err != nil {
		return err
	}
	u.Threads, u.Bytes = max(u.Threads-1, 0), max(u.Bytes-r.Bytes, 0)
	b := s.st.NewBatch()
	if err := s.logs.DeleteThread(b, id); err != nil {
		return err
	}
	b.Delete(replicaKey(id))
	b.Put(usageKey(r.Account), u)
	b.DeletePrefix(peerPrefix(id))
	return b.Commit()
}

// ingestReplica verifies and stores a record of replica id, within its
// account's MaxReplicaBytes (Exhausted past it); NotExist when id is not
// a replica. Refusals are the log store's (see logstore.Store.Ingest).
func (s *Service) ingestReplica(id threads.ID, blocks []threads.Block) error {
	s.replicaMu.Lock()
	defer s.replicaMu.Unlock()
	r, u, err := s.readReplica(id)
	if err != nil {
		return err
	}
	var size int64
	for _, blk := range blocks {
		size += int64(len(blk.Data))
	}
	if u.Bytes+size > s.cfg.MaxReplicaBytes {
		return errors.Errorf("", errors.Exhausted, "the threads this hub replicates for the account take %d bytes; a record of %d more is past its limit of %d", u.Bytes, size, s.cfg.MaxReplicaBytes)
	}
	b := s.st.NewBatch()
	if _, _, err := s.logs.Ingest(b, id, blocks); err != nil {
		return err
	}
	r.Bytes += size
	u.Bytes += size
	b.Put(replicaKey(id), r)
	b.Put(usageKey(r.Account), u)
	if err := b.Commit(); err != nil {
		return err
	}
	s.announce(id)
	return nil
}

// ReplicaBytes is how many bytes of records the threads this hub
// replicates for account hold, for usage reports.
func (s *Service) ReplicaBytes(ctx context.Context, account hub.PubKey) (int64, error) {
	const op errors.Op = "replicate.ReplicaBytes"
	var u usageJSON
	if err := s.getOr(usageKey(account), &u); err != nil {
		return 0, errors.E(op, err)
	}
	return u.Bytes, nil
}
