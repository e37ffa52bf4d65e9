package db

import (
	"encoding/binary"
	"time"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
)

// The record journal: how a local write is acknowledged without waiting
// for its signed thread record.
//
// Forming a record (a fresh body key, three encryptions, dag-cbor, an
// Ed25519 signature, four blocks and the log head) costs more CPU than the
// rest of a small write together. So a write transaction commits its state
// change together with a journal entry (<db>jrn/<seq>: the writer, the
// time and the event body) in one synced batch, and is acknowledged. The
// DB's former (former.go) then turns journal entries into records, in
// journal order, behind the writers: each batch it applies appends the
// records to their logs and deletes their entries, atomically. The state
// change and its entry are never apart, and an entry and its record are
// never both there, so after a crash the entries left are exactly the
// writes without a record; they are formed when the hub starts again
// (ResumeForming) or the DB is next opened.
//
// Readers of records (Records, GetBlock, replication) see each log as a
// prefix of the writes applied to the state: the records of the last
// writes appear a moment after the writes are acknowledged (WaitRecords
// waits for them). Records are formed only from entries known to be on
// disk, in commit order, so each log's chain follows the order in which
// its writer's transactions committed; the event bodies are the ones the
// state was built from, so a replica that ingests the records converges to
// the same state. A crash may lose records the former applied without a
// sync, never without their entries, which are formed again into the same
// records (threads.NewRecord derives its keys and nonces from its inputs):
// a record anyone saw before the crash is the one its log holds after it.

// journalEntry is a write waiting for its record.
type journalEntry struct {
	key    []byte     // its key in the store
	writer hub.PubKey // whose log the record goes to
	now    time.Time  // the event time in the record's header
	body   []byte     // the event body (eventBody, encoded)
}

// encodeJournal lays an entry out as uvarint(len(writer)) || writer ||
// varint(Unix ns) || body.
func encodeJournal(writer hub.PubKey, now time.Time, body []byte) []byte {
	out := make([]byte, 0, 2*binary.MaxVarintLen64+len(writer)+len(body))
	out = binary.AppendUvarint(out, uint64(len(writer)))
	out = append(out, writer...)
	out = binary.AppendVarint(out, now.UnixNano())
	return append(out, body...)
}

// decodeJournal reads an entry stored at key.
func decodeJournal(key, val []byte) (journalEntry, error) {
	const op errors.Op = "db.decodeJournal"
	bad := errors.Errorf(op, errors.Internal, "journal entry %q is malformed", key)
	n, k := binary.Uvarint(val)
	if k <= 0 || uint64(len(val)-k) < n {
		return journalEntry{}, bad
	}
	e := journalEntry{key: append([]byte(nil), key...), writer: hub.PubKey(val[k : k+int(n)])}
	val = val[k+int(n):]
	ns, k := binary.Varint(val)
	if k <= 0 {
		return journalEntry{}, bad
	}
	e.now, e.body = time.Unix(0, ns), append([]byte(nil), val[k:]...)
	return e, nil
}
