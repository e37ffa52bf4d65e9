package replicate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// refusal is what a peer is told when its request names a thread this hub
// does not hold, or proves the wrong key: the same words for both, so
// that a peer without the key learns nothing of which threads are here.
const refusal = "this hub holds no such thread for a holder of that key"

// serve answers one stream of a peer.
func (s *Service) serve(str network.Stream) {
	p := str.Conn().RemotePeer()
	if !s.admit(p) {
		str.Reset()
		return
	}
	defer s.release(p)
	// Close waits for this handler: a stream in flight ends with it.
	stop := context.AfterFunc(s.ctx, func() { str.Reset() })
	defer stop()
	str.SetDeadline(time.Now().Add(s.cfg.Timeout))
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	r, w := bufio.NewReader(str), bufio.NewWriter(str)
	if err := s.answer(ctx, p, r, w); err != nil {
		s.cfg.Log.Debug("replication: a peer's stream ended", "peer", p, "err", err)
		str.Reset()
		return
	}
	if err := w.Flush(); err != nil {
		str.Reset()
		return
	}
	str.Close()
}

// answer reads a request from peer p and answers it.
func (s *Service) answer(ctx context.Context, p peer.ID, r *bufio.Reader, w *bufio.Writer) error {
	var req request
	if err := readJSON(r, &req, maxRequest); err != nil {
		return err
	}
	id, err := threads.Decode(req.Thread)
	if err != nil {
		return writeJSON(w, answer{Err: refusal})
	}
	info, err := s.logs.Thread(id)
	if err != nil || !hmac.Equal(req.MAC, proof(info.Key, id, p, s.host.ID())) {
		return writeJSON(w, answer{Err: refusal})
	}
	// The peer holds the key: it is a member of the thread.
	if err := s.peers.add(id, p, s.host.Peerstore().Addrs(p), s.cfg.MaxPeers); err != nil {
		s.cfg.Log.Error("replication: storing a thread's peer", "thread", id, "peer", p, "err", err)
	}
	switch req.Op {
	case opHeads:
		return s.answerHeads(id, req, w)
	case opPull:
		return s.answerPull(id, info.Key, req, w)
	case opPush:
		return s.answerPush(ctx, p, id, r, w)
	}
	return writeJSON(w, answer{Err: "unknown operation; this hub speaks " + ProtocolID})
}

// answerHeads sends this hub's heads, or Same when the digests match.
func (s *Service) answerHeads(id threads.ID, req request, w *bufio.Writer) error {
	heads, _, err := s.heads(id)
	if err != nil {
		return err
	}
	if err := s.st.Sync(); err != nil { // tell of durable records only
		return err
	}
	if bytes.Equal(req.Digest, digest(heads)) {
		return writeJSON(w, answer{Same: true})
	}
	a := answer{Logs: make([]headJSON, len(heads))}
	for i, h := range heads {
		a.Logs[i] = headJSON{Log: h.log.String(), Head: h.head.String(), Counter: h.counter}
	}
	return writeJSON(w, a)
}

// answerPull sends the records of a log that follow the asker's head.
func (s *Service) answerPull(id threads.ID, key threads.Key, req request, w *bufio.Writer) error {
	lid, err := peer.Decode(req.Log)
	if err != nil {
		return writeJSON(w, answer{Err: "malformed log ID"})
	}
	after := cid.Undef
	if req.After != "" {
		if after, err = cid.Decode(req.After); err != nil {
			return writeJSON(w, answer{Err: "malformed record CID"})
		}
	}
	limit := min(max(req.Limit, 1), s.cfg.Batch)
	var cids []cid.Cid
	if l, err := s.logs.Log(id, lid); err == nil {
		if cids, _, err = s.after(id, key, l, after, req.Counter, limit); err != nil {
			return err
		}
	} else if !errors.Is(errors.NotExist, err) {
		return err
	}
	if err := s.st.Sync(); err != nil { // hand on only what is on disk
		return err
	}
	if err := writeJSON(w, answer{}); err != nil {
		return err
	}
	return s.writeRecords(w, id, key, cids)
}

// answerPush ingests the records peer p pushes, a batch at a time as
// they arrive (the stream's flow control holds the pusher back), up to
// Batch. A record that does not follow what this hub holds ends the push,
// and this hub pulls the log from p to fill the gap; one that does not
// verify ends it too, and bans p, as more records than Batch do.
func (s *Service) answerPush(ctx context.Context, p peer.ID, id threads.ID, r *bufio.Reader, w *bufio.Writer) error {
	var a answer
	_, n, more, err := s.receive(ctx, p, id, r, s.cfg.Batch)
	a.Ingested = n
	switch {
	case err == nil && !more:
	case errors.Is(errors.FailedPrecondition, err):
		a.Gap = true
		s.kick(peer.AddrInfo{ID: p}, id, true)
	case err != nil && errors.KindOf(err) == errors.Other:
		return err // the stream failed
	case err != nil:
		a.Err = errors.Message(err)
	default: // more
		a.Err = "more records than a push may carry"
		s.ban(p, a.Err)
	}
	return writeJSON(w, a)
}

// admit takes one of peer p's stream slots, and counts the stream's
// handler among those Close waits for; false when it has none left, is
// banned, or the service is closed.
func (s *Service) admit(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	if until, ok := s.banned[p]; ok {
		if time.Now().Before(until) {
			return false
		}
		delete(s.banned, p)
	}
	if s.inbound[p] >= s.cfg.MaxStreamsPerPeer {
		return false
	}
	s.inbound[p]++
	s.wg.Add(1)
	return true
}

// release gives back a slot admit took.
func (s *Service) release(p peer.ID) {
	defer s.wg.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inbound[p]--; s.inbound[p] <= 0 {
		delete(s.inbound, p)
	}
}

// ban refuses peer p's streams for BanTime and drops its connections, with
// the reason logged.
func (s *Service) ban(p peer.ID, reason string) {
	s.cfg.Log.Warn("replication: refusing a peer", "peer", p, "for", s.cfg.BanTime, "reason", reason)
	s.mu.Lock()
	s.banned[p] = time.Now().Add(s.cfg.BanTime)
	s.mu.Unlock()
	go s.host.Network().ClosePeer(p)
}
