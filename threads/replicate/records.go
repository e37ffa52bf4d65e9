package replicate

import (
	"bufio"
	"sort"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/logstore"
)

// What replication reads of the log store: heads, and the records that
// follow a given one, with their blocks. It reads committed state, which
// may hold records not yet synced (the former applies them unsynced); a
// caller syncs the store after reading and before sending anything.

// heads returns the heads of thread id's logs that hold records, sorted by
// log, and the logs themselves by ID.
func (s *Service) heads(id threads.ID) ([]head, map[string]logstore.LogInfo, error) {
	logs, err := s.logs.Logs(id)
	if err != nil {
		return nil, nil, err
	}
	out := make([]head, 0, len(logs))
	byID := make(map[string]logstore.LogInfo, len(logs))
	for _, l := range logs {
		if l.Counter == 0 || !l.Head.Defined() {
			continue
		}
		out = append(out, head{log: l.ID, head: l.Head, counter: l.Counter})
		byID[string(l.ID)] = l
	}
	sort.Slice(out, func(i, j int) bool { return out[i].log < out[j].log })
	return out, byID, nil
}

// after returns, oldest first, up to limit records of log l that follow
// record after (cid.Undef: from the log's first), which the asker says is
// the log's record number n. ok is false when after is not in the log: the
// asker holds records this store does not (it is ahead, or the log
// forked). The log store's index by position answers in the work of the
// records returned; when it cannot (the records predate it, or n is
// wrong), the log is walked from its head, keeping only the oldest limit
// records seen, so memory stays bounded however long the log is.
func (s *Service) after(id threads.ID, key threads.Key, l logstore.LogInfo, after cid.Cid, n int64, limit int) (out []cid.Cid, ok bool, err error) {
	if out, known, err := s.logs.Following(id, l, after, n, limit); err != nil || known {
		return out, known, err
	}
	ring := make([]cid.Cid, limit)
	seen := 0 // records seen, newest first
	c := l.Head
	for c.Defined() && !c.Equals(after) {
		ring[seen%limit] = c
		seen++
		data, err := s.logs.GetBlock(id, c)
		if err != nil {
			return nil, false, err
		}
		if c, _, err = threads.RecordLinks(key, threads.Block{Cid: c, Data: data}); err != nil {
			return nil, false, errors.E(errors.Internal, err)
		}
	}
	if after.Defined() && !c.Defined() {
		return nil, false, nil
	}
	// The oldest min(seen, limit) records seen, oldest first: the last
	// ones written into the ring, read backwards.
	k := min(seen, limit)
	out = make([]cid.Cid, 0, k)
	for i := range k {
		out = append(out, ring[(seen-1-i)%limit])
	}
	return out, true, nil
}

// recordBlocks returns record c with its event, header and body blocks.
func (s *Service) recordBlocks(id threads.ID, key threads.Key, c cid.Cid) ([]threads.Block, error) {
	get := func(c cid.Cid) ([]byte, error) { return s.logs.GetBlock(id, c) }
	data, err := get(c)
	if err != nil {
		return nil, err
	}
	_, event, err := threads.RecordLinks(key, threads.Block{Cid: c, Data: data})
	if err != nil {
		return nil, err
	}
	header, body, err := threads.EventLinks(event, get)
	if err != nil {
		return nil, err
	}
	out := []threads.Block{{Cid: c, Data: data}}
	for _, b := range []cid.Cid{event, header, body} {
		d, err := get(b)
		if err != nil {
			return nil, err
		}
		out = append(out, threads.Block{Cid: b, Data: d})
	}
	return out, nil
}

// writeRecords writes the frames of records cids, then the empty frame
// that ends them.
func (s *Service) writeRecords(w *bufio.Writer, id threads.ID, key threads.Key, cids []cid.Cid) error {
	for _, c := range cids {
		blocks, err := s.recordBlocks(id, key, c)
		if err != nil {
			return err
		}
		if err := writeFrame(w, encodeRecord(blocks)); err != nil {
			return err
		}
	}
	return writeFrame(w, nil)
}
