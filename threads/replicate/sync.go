package replicate

import (
	"bufio"
	"context"
	stderrors "errors"
	"maps"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
	"github.com/selfhub/hub/threads/logstore"
)

// syncWith brings thread id and peer ai to the same records: it compares
// head digests, pulls each log in which the peer is ahead and pushes each
// in which this hub is. A thread this hub no longer holds loses its
// peers. Errors are Unavailable when the peer cannot be reached and
// FailedPrecondition when it refuses (it does not hold the thread, or not
// with this key).
func (s *Service) syncWith(ctx context.Context, ai peer.AddrInfo, id threads.ID) error {
	const op errors.Op = "replicate.sync"
	info, err := s.logs.Thread(id)
	if errors.Is(errors.NotExist, err) {
		return s.peers.drop(id)
	}
	if err != nil {
		return errors.E(op, err)
	}
	ours, byLog, err := s.heads(id)
	if err != nil {
		return errors.E(op, err)
	}
	k := syncKey{ai.ID, id}
	s.forget(k) // known again once this sync succeeds
	s.addAddrs(ai)
	var a answer
	err = s.exchange(ctx, ai.ID, request{Op: opHeads, Digest: digest(ours)}, id, info.Key, nil, func(r *bufio.Reader) error {
		return readJSON(r, &a, s.cfg.MaxFrame)
	})
	if err != nil {
		return errors.E(op, err)
	}
	if a.Err != "" {
		return errors.Errorf(op, errors.FailedPrecondition, "peer %s refused to sync thread %s: %s", ai.ID, id, errors.Clip(a.Err))
	}
	if a.Same {
		s.remember(k, byLog, nil)
		return nil
	}
	theirs := map[string]head{}
	for _, h := range a.Logs {
		lid, err1 := peer.Decode(h.Log)
		c, err2 := cid.Decode(h.Head)
		if err1 != nil || err2 != nil || h.Counter < 1 {
			return errors.Errorf(op, errors.Invalid, "peer %s sent a malformed head of thread %s", ai.ID, id)
		}
		theirs[string(lid)] = head{log: lid, head: c, counter: h.Counter}
	}
	for lid, h := range theirs {
		if l, ok := byLog[lid]; ok && l.Counter >= h.counter {
			continue
		}
		if err := s.pullLog(ctx, ai.ID, id, info.Key, h.log, h.counter); err != nil {
			if refusedByACL(err) {
				continue // logged by ingest; the other logs still come
			}
			return errors.E(op, err)
		}
	}
	gaps := false
	for lid, l := range byLog {
		h, ok := theirs[lid]
		if ok && h.counter >= l.Counter {
			continue
		}
		_, gap, err := s.pushLog(ctx, ai.ID, id, info.Key, l, h)
		if err != nil {
			return errors.E(op, err)
		}
		gaps = gaps || gap // the peer pulls what it lacks
	}
	if !gaps {
		s.remember(k, byLog, theirs)
	}
	return nil
}

// pushNew pushes to peer ai the records of thread id's logs that follow
// what the peer is known to hold (Service.known), without comparing heads
// first: the quick way to hand on new records. It reports false, having
// done nothing, when this hub does not know what the peer holds: a full
// sync (syncWith) finds out. A failed push, or a peer that does not hold
// what it was thought to (a gap: it then pulls), leaves it unknown again.
func (s *Service) pushNew(ctx context.Context, ai peer.AddrInfo, id threads.ID) bool {
	k := syncKey{ai.ID, id}
	s.mu.Lock()
	known, ok := s.known[k]
	s.mu.Unlock()
	if !ok {
		return false
	}
	known = maps.Clone(known)
	err := func() error {
		info, err := s.logs.Thread(id)
		if err != nil {
			return err
		}
		_, byLog, err := s.heads(id)
		if err != nil {
			return err
		}
		s.addAddrs(ai)
		for lid, l := range byLog {
			h := known[lid]
			if h.counter >= l.Counter {
				continue
			}
			last, gap, err := s.pushLog(ctx, ai.ID, id, info.Key, l, h)
			if err != nil {
				return err
			}
			if gap {
				return errors.Errorf("", errors.FailedPrecondition, "peer %s lacks records it was known to hold; it pulls them", ai.ID)
			}
			known[lid] = last
		}
		return nil
	}()
	if err != nil {
		s.forget(k)
		s.cfg.Log.Debug("replication: pushing new records failed; the next sync compares heads", "thread", id, "peer", ai.ID, "err", err)
		return true
	}
	s.mu.Lock()
	if _, ok := s.known[k]; ok { // not forgotten meanwhile
		s.known[k] = known
	}
	s.mu.Unlock()
	return true
}

// remember notes that peer k.peer holds, of thread k.thread, at least the
// logs ours (this hub's, as a sync began) and theirs (the peer's heads),
// whichever is further along in each log.
func (s *Service) remember(k syncKey, ours map[string]logstore.LogInfo, theirs map[string]head) {
	known := make(map[string]head, max(len(ours), len(theirs)))
	maps.Copy(known, theirs)
	for lid, l := range ours {
		if l.Counter > known[lid].counter {
			known[lid] = head{log: l.ID, head: l.Head, counter: l.Counter}
		}
	}
	s.mu.Lock()
	s.known[k] = known
	s.mu.Unlock()
}

// forget drops what is known of the heads peer k.peer holds.
func (s *Service) forget(k syncKey) {
	s.mu.Lock()
	delete(s.known, k)
	s.mu.Unlock()
}

// addAddrs tells the host where peer ai is, for as long as two syncs take.
func (s *Service) addAddrs(ai peer.AddrInfo) {
	if len(ai.Addrs) > 0 {
		s.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, s.cfg.Interval*2)
	}
}

// pullLog pulls the records of log lid that follow this hub's copy from
// peer p, a batch per stream, until the copy holds want records or the
// peer sends none.
func (s *Service) pullLog(ctx context.Context, p peer.ID, id threads.ID, key threads.Key, lid peer.ID, want int64) error {
	for {
		l, err := s.logs.Log(id, lid)
		switch {
		case errors.Is(errors.NotExist, err):
			l = logstore.LogInfo{}
		case err != nil:
			return err
		}
		if l.Counter >= want {
			return nil
		}
		req := request{Op: opPull, Log: lid.String(), Counter: l.Counter, Limit: s.cfg.Batch}
		if l.Head.Defined() {
			req.After = l.Head.String()
		}
		got := 0
		err = s.exchange(ctx, p, req, id, key, nil, func(r *bufio.Reader) error {
			var a answer
			if err := readJSON(r, &a, maxRequest); err != nil {
				return err
			}
			if a.Err != "" {
				return errors.Errorf("", errors.FailedPrecondition, "peer %s refused a pull: %s", p, errors.Clip(a.Err))
			}
			n, _, more, err := s.receive(ctx, p, id, r, s.cfg.Batch)
			got += n // records held already count: the peer has more
			if err == nil && more {
				err = errors.Errorf("", errors.Invalid, "peer %s sent more records than the %d asked for", p, s.cfg.Batch)
			}
			return err
		})
		if err != nil {
			return err
		}
		if got == 0 {
			return nil // the peer has no more; it may have been ahead of itself
		}
	}
}

// pushLog pushes to peer p the records of log l that follow theirs (the
// peer's head of it; zero when the peer has none), a batch per stream, and
// returns the head the peer then holds. It stops, without error, when
// theirs is not in this hub's copy (the peer is ahead, or the log forked),
// and when the peer answers that a record does not follow what it holds
// (gap: the peer then pulls the log).
func (s *Service) pushLog(ctx context.Context, p peer.ID, id threads.ID, key threads.Key, l logstore.LogInfo, theirs head) (last head, gap bool, err error) {
	for {
		cids, ok, err := s.after(id, key, l, theirs.head, theirs.counter, s.cfg.Batch)
		if err != nil || !ok || len(cids) == 0 {
			return theirs, false, err
		}
		if err := s.st.Sync(); err != nil { // hand on only what is on disk
			return theirs, false, err
		}
		var a answer
		err = s.exchange(ctx, p, request{Op: opPush}, id, key, func(w *bufio.Writer) error {
			return s.writeRecords(w, id, key, cids)
		}, func(r *bufio.Reader) error { return readJSON(r, &a, maxRequest) })
		switch {
		case err != nil:
			return theirs, false, err
		case a.Err != "":
			return theirs, false, errors.Errorf("", errors.FailedPrecondition, "peer %s refused records: %s", p, errors.Clip(a.Err))
		case a.Gap:
			return theirs, true, nil
		}
		theirs = head{log: l.ID, head: cids[len(cids)-1], counter: theirs.counter + int64(len(cids))}
		if len(cids) < s.cfg.Batch {
			return theirs, false, nil
		}
	}
}

// exchange opens a stream to p, sends req for thread id with its proof,
// then what send writes (if anything), and hands the stream to recv, all
// within Config.Timeout: each stream has its deadline, rather than each
// sync, so that a peer catching up on a long log keeps going as long as
// every batch arrives in time.
func (s *Service) exchange(ctx context.Context, p peer.ID, req request, id threads.ID, key threads.Key, send func(*bufio.Writer) error, recv func(*bufio.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	str, err := s.host.NewStream(network.WithAllowLimitedConn(ctx, "replicate"), p, ProtocolID)
	if err != nil {
		return errors.Errorf("", errors.Unavailable, "cannot reach peer %s: %v", p, err)
	}
	defer str.Close()
	if dl, ok := ctx.Deadline(); ok {
		str.SetDeadline(dl)
	}
	req.Thread, req.MAC = id.String(), proof(key, id, s.host.ID(), p)
	w := bufio.NewWriter(str)
	if err := writeJSON(w, req); err != nil {
		str.Reset()
		return errors.Errorf("", errors.Unavailable, "peer %s: %v", p, err)
	}
	if send != nil {
		if err := send(w); err != nil {
			str.Reset()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		str.Reset()
		return errors.Errorf("", errors.Unavailable, "peer %s: %v", p, err)
	}
	if err := str.CloseWrite(); err != nil {
		str.Reset()
		return errors.Errorf("", errors.Unavailable, "peer %s: %v", p, err)
	}
	if err := recv(bufio.NewReader(str)); err != nil {
		str.Reset()
		if errors.KindOf(err) == errors.Other {
			return errors.Errorf("", errors.Unavailable, "peer %s: %v", p, err)
		}
		return err
	}
	return nil
}

// refusedByACL reports whether err is a DB's access control list refusing
// a record.
func refusedByACL(err error) bool {
	var r *db.ACLRefusal
	return stderrors.As(err, &r)
}
