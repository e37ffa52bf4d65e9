package db

import (
	"encoding/binary"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/store"
)

// counters are what every write of a DB moves: the last change's number,
// the clock and the bytes of instances stored. They are one record
// (countersKey), not three, because each write rewrites them in its synced
// batch and a sync costs more the more bytes (and keys) it carries.
type counters struct {
	seq   uint64 // the last change in the listen log
	clock int64  // the last hybrid logical clock value, Unix ns
	bytes int64  // bytes of instance JSON stored
}

// encode lays c out as uvarint(seq) || varint(clock) || varint(bytes).
func (c counters) encode() []byte {
	out := make([]byte, 0, 3*binary.MaxVarintLen64)
	out = binary.AppendUvarint(out, c.seq)
	out = binary.AppendVarint(out, c.clock)
	return binary.AppendVarint(out, c.bytes)
}

// readCounters returns the stored counters of the DB with key prefix db,
// zero when it has none yet.
func readCounters(r store.Reader, db []byte) (counters, error) {
	const op errors.Op = "db.readCounters"
	raw, err := r.GetRaw(countersKey(db))
	if errors.Is(errors.NotExist, err) {
		return counters{}, nil
	}
	if err != nil {
		return counters{}, errors.E(op, err)
	}
	var c counters
	var n int
	if c.seq, n = binary.Uvarint(raw); n > 0 {
		raw = raw[n:]
		if c.clock, n = binary.Varint(raw); n > 0 {
			raw = raw[n:]
			c.bytes, n = binary.Varint(raw)
		}
	}
	if n <= 0 || n != len(raw) {
		return counters{}, errors.Errorf(op, errors.Internal, "the counters of DB %q are malformed", db)
	}
	return c, nil
}
