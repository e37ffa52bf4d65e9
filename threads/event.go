package threads

import (
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
)

// MaxBodySize bounds an event body. The dag-cbor decoder refuses byte
// strings over 32 MiB; half that leaves room and is far more than a
// database transaction needs (files belong in buckets).
const MaxBodySize = 16 << 20

// maxNodeSize bounds the plaintext event and header nodes, which hold two
// links or a key and a time.
const maxNodeSize = 1 << 10

// Event is the content a record carries, once opened with the read key.
type Event struct {
	Time time.Time // when the writer made it (from the header)
	Body []byte    // the payload given to NewRecord or Store.Append
}

// newEvent builds the event, header and body blocks for body, in that order.
func newEvent(key Key, secrets recordSecrets, body []byte, now time.Time) ([]Block, error) {
	rk, ok := key.Read()
	if !ok {
		return nil, errors.E(errors.Permission, "thread key holds only the service key; writing an event needs the read key")
	}
	if len(body) > MaxBodySize {
		return nil, errors.Errorf("", errors.Invalid, "event body is %d bytes, more than the %d allowed", len(body), MaxBodySize)
	}
	bodyBlk, err := seal(secrets.bodyKey, secrets.nonces[bodyNonce], body)
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	header := cborWriter(nil).mapOf(2).text("key").bytes(secrets.bodyKey.b[:]).text("time").int(now.UnixNano())
	headerBlk, err := seal(rk, secrets.nonces[headerNonce], header)
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	data := cborWriter(nil).mapOf(2).text("body").link(bodyBlk.Cid).text("header").link(headerBlk.Cid)
	eventBlk, err := newBlock(data)
	if err != nil {
		return nil, errors.E(errors.Internal, err)
	}
	return []Block{eventBlk, headerBlk, bodyBlk}, nil
}

// OpenEvent fetches rec's event blocks with get, checks that each matches
// its CID, and decrypts the header with the thread's read key and the body
// with the header's key. Without the read key it fails with Permission; a
// block get cannot supply fails with get's error; malformed blocks are
// Invalid, and blocks the keys do not open are Permission.
func OpenEvent(key Key, rec Record, get func(cid.Cid) ([]byte, error)) (Event, error) {
	const op errors.Op = "threads.OpenEvent"
	ev, err := openEvent(key, rec.Event, get)
	if err != nil {
		return Event{}, errors.E(op, err)
	}
	return ev, nil
}

func openEvent(key Key, event cid.Cid, get func(cid.Cid) ([]byte, error)) (Event, error) {
	rk, ok := key.Read()
	if !ok {
		return Event{}, errors.E(errors.Permission, "thread key holds only the service key (a replicator's key); opening events needs the read key")
	}
	header, body, err := EventLinks(event, get)
	if err != nil {
		return Event{}, err
	}
	hdata, err := FetchBlock(header, "header", get)
	if err != nil {
		return Event{}, err
	}
	bodyKey, t, err := openHeader(rk, header, hdata)
	if err != nil {
		return Event{}, err
	}
	bdata, err := FetchBlock(body, "body", get)
	if err != nil {
		return Event{}, err
	}
	ciphertext, err := unwrap(bdata)
	if err != nil {
		return Event{}, errors.Errorf("", errors.Invalid, "event body %s: %v", body, err)
	}
	plain, err := bodyKey.Decrypt(ciphertext)
	if err != nil {
		return Event{}, errors.Errorf("", errors.KindOf(err), "event body %s does not open with its header's key: %v", body, errors.Message(err))
	}
	return Event{Time: t, Body: plain}, nil
}

// EventLinks fetches and parses an event node with get, returning its
// header and body CIDs. It needs no key, so a replicator can check that a
// record's event is complete (with FetchBlock) without reading it.
func EventLinks(event cid.Cid, get func(cid.Cid) ([]byte, error)) (header, body cid.Cid, err error) {
	data, err := FetchBlock(event, "event", get)
	if err != nil {
		return cid.Undef, cid.Undef, err
	}
	if len(data) > maxNodeSize {
		return cid.Undef, cid.Undef, errors.Errorf("", errors.Invalid, "event %s is %d bytes, more than an event node can be", event, len(data))
	}
	n, err := decodeCanonical(data, true)
	if err != nil {
		return cid.Undef, cid.Undef, errors.Errorf("", errors.Invalid, "event %s: %v", event, err)
	}
	f, err := mapFields(n, []string{"body", "header"})
	if err == nil {
		header, err = linkField(f, "header")
	}
	if err == nil {
		body, err = linkField(f, "body")
	}
	if err != nil {
		return cid.Undef, cid.Undef, errors.Errorf("", errors.Invalid, "event %s: %v", event, err)
	}
	return header, body, nil
}

// openHeader decrypts and parses a header block.
func openHeader(rk SymKey, c cid.Cid, data []byte) (SymKey, time.Time, error) {
	if len(data) > maxNodeSize {
		return SymKey{}, time.Time{}, errors.Errorf("", errors.Invalid, "event header %s is %d bytes, more than a header can be", c, len(data))
	}
	ciphertext, err := unwrap(data)
	if err != nil {
		return SymKey{}, time.Time{}, errors.Errorf("", errors.Invalid, "event header %s: %v", c, err)
	}
	plain, err := rk.Decrypt(ciphertext)
	if err != nil {
		if errors.Is(errors.Permission, err) {
			return SymKey{}, time.Time{}, errors.Errorf("", errors.Permission, "event header %s does not open with this thread's read key: wrong key, or the header was altered", c)
		}
		return SymKey{}, time.Time{}, errors.Errorf("", errors.Invalid, "event header %s: %v", c, errors.Message(err))
	}
	key, t, err := parseHeader(plain)
	if err != nil {
		return SymKey{}, time.Time{}, errors.Errorf("", errors.Invalid, "event header %s: %v", c, err)
	}
	return key, t, nil
}

func parseHeader(plain []byte) (SymKey, time.Time, error) {
	n, err := decodeCanonical(plain, false)
	if err != nil {
		return SymKey{}, time.Time{}, err
	}
	f, err := mapFields(n, []string{"key", "time"})
	if err != nil {
		return SymKey{}, time.Time{}, err
	}
	kb, err := bytesField(f, "key")
	if err != nil {
		return SymKey{}, time.Time{}, err
	}
	key, err := SymKeyFromBytes(kb)
	if err != nil {
		return SymKey{}, time.Time{}, fmt.Errorf("field \"key\": %s", errors.Message(err))
	}
	ns, err := f["time"].AsInt()
	if err != nil {
		return SymKey{}, time.Time{}, fmt.Errorf("field \"time\" is a %s, want an integer", f["time"].Kind())
	}
	return key, time.Unix(0, ns), nil
}

// FetchBlock gets block c with get and checks it against its CID: getters
// are not trusted. what names the block in errors ("header", "body"...).
func FetchBlock(c cid.Cid, what string, get func(cid.Cid) ([]byte, error)) ([]byte, error) {
	data, err := get(c)
	if err != nil {
		return nil, errors.E(fmt.Errorf("event %s block %s: %w", what, c, err))
	}
	if err := CheckBlock(c, data); err != nil {
		return nil, errors.Errorf("", errors.Invalid, "event %s block: %v", what, err)
	}
	return data, nil
}
