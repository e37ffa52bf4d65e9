package replicate

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// receive reads the record frames of thread id that peer p sends on one
// stream, up to the empty frame that ends them, and ingests them a batch
// at a time: one durable commit per batch, not one sync per record, which
// is what lets a peer that was away catch up at the speed of the disk's
// writes rather than of its syncs. A batch is ingested once it holds
// Config.Batch records, when the stream's records end, or when the next
// frame does not fit in MaxMemory: frames are held in memory until their
// batch is ingested, and taking their bytes from MaxMemory first bounds
// memory however many peers and streams send frames at once, while
// ingesting what it holds before it waits for room means a stream never
// waits for memory it holds itself.
//
// It returns how many records the peer sent (up to limit) and how many of
// them were new. more is set when the peer sent more than limit records
// (the extra one is not ingested). err is a
// stream's failure, or the refusal of a record (IngestBatch's kinds),
// after the records before it were ingested; a record that does not
// verify gets p banned.
func (s *Service) receive(ctx context.Context, p peer.ID, id threads.ID, r *bufio.Reader, limit int) (sent, ingested int, more bool, err error) {
	var (
		batch [][]threads.Block
		held  int64 // bytes of MaxMemory the frames of batch hold
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := s.ingestBatch(ctx, id, batch)
		s.frames.Release(held)
		batch, held, ingested = batch[:0], 0, ingested+n
		return s.refused(p, id, err)
	}
	defer func() { s.frames.Release(held) }()
	for {
		n, err := readFrameLen(r, s.cfg.MaxFrame)
		if err != nil {
			return sent, ingested, false, err
		}
		if n == 0 {
			return sent, ingested, false, flush()
		}
		if sent == limit {
			return sent, ingested, true, flush()
		}
		sent++
		if !s.frames.TryAcquire(int64(n)) {
			if err := flush(); err != nil {
				return sent, ingested, false, err
			}
			if err := s.frames.Acquire(ctx, int64(n)); err != nil {
				return sent, ingested, false, fmt.Errorf("no room to read a frame of %d bytes before the stream's deadline: %w", n, err)
			}
		}
		held += int64(n)
		frame := make([]byte, n)
		if _, err := io.ReadFull(r, frame); err != nil {
			return sent, ingested, false, err
		}
		blocks, err := decodeRecord(frame)
		if err != nil {
			if ferr := flush(); ferr != nil {
				return sent, ingested, false, ferr
			}
			return sent, ingested, false, s.refused(p, id, errors.Errorf("", errors.Invalid, "%v", err))
		}
		batch = append(batch, blocks)
		if len(batch) == s.cfg.Batch {
			if err := flush(); err != nil {
				return sent, ingested, false, err
			}
		}
	}
}

// refused returns err, a refusal of a record of thread id from peer p,
// after banning p when the record does not verify. A refusal by the DB's
// access control list is logged, and p is not banned: an honest peer may
// hold records a revocation it has not yet seen cuts off, or send a
// writer's before its grant.
func (s *Service) refused(p peer.ID, id threads.ID, err error) error {
	if errors.Is(errors.Invalid, err) || errors.Is(errors.Permission, err) {
		s.ban(p, fmt.Sprintf("sent a record that does not verify: %s", errors.Message(err)))
	}
	if refusedByACL(err) {
		s.cfg.Log.Warn("replication: refused a record", "peer", p, "db", id, "reason", errors.Message(err))
	}
	return err
}

// ingestBatch applies records of thread id in order, as
// db.Manager.IngestBatch does, to the DB, or, when this hub holds no DB of
// the thread but replicates it (replicas.go), to the replica, one record
// at a time, skipping those it holds: how many were new, and the refusal
// it stopped at.
func (s *Service) ingestBatch(ctx context.Context, id threads.ID, records [][]threads.Block) (int, error) {
	n, err := s.dbs.IngestBatch(ctx, id, records)
	if !errors.Is(errors.NotExist, err) {
		return n, err
	}
	n = 0
	for i, blocks := range records {
		rerr := s.ingestReplica(id, blocks)
		switch {
		case i == 0 && errors.Is(errors.NotExist, rerr):
			return 0, err // neither a DB nor a replica
		case errors.Is(errors.Exist, rerr):
		case rerr != nil:
			return n, rerr
		default:
			n++
		}
	}
	return n, nil
}
