package abuse

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	mh "github.com/multiformats/go-multihash"

	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/replicate"
)

// The replication limits of the hub under attack: small, so that they
// trip at once.
const (
	replMaxFrame = 1 << 20 // --repl-max-frame
	replStreams  = 2       // --repl-max-streams-per-peer
	replBatch    = 4       // --repl-batch
)

// replVictim is a child hubd that hosts a tenant's DB, with what the
// attacks must not change: the DB's notes, as read when it was made.
type replVictim struct {
	h         *target
	owner     *tenant // hosts db and other
	bystander *tenant // another tenant of the hub, who must stay served
	db        threads.ID
	key       threads.Key
	other     threads.ID // a second DB of the owner's
	otherKey  threads.Key
	notes     []json.RawMessage
}

// startReplVictim starts a hubd with args and a tenant whose DB holds
// three notes, and a second DB with one.
func startReplVictim(t *testing.T, args ...string) *replVictim {
	t.Helper()
	v := &replVictim{h: startHub(t, args...)}
	v.owner, v.bystander = newTenant(t, v.h, "owner"), newTenant(t, v.h, "bystander")
	v.db, v.key = v.newDB(t, "n1", "n2", "n3")
	v.other, v.otherKey = v.newDB(t, "x1")
	v.notes = v.find(t)
	if len(v.notes) != 3 {
		t.Fatalf("the tenant's DB holds %d notes; want 3", len(v.notes))
	}
	return v
}

func (v *replVictim) newDB(t *testing.T, ids ...string) (threads.ID, threads.Key) {
	t.Helper()
	c, u := v.owner.Threads, v.owner.User
	id, err := c.NewDB(u, "", threadsclient.DBOptions{Collections: []threadsclient.CollectionConfig{{Name: "notes"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ids {
		if _, err := c.Create(u, id, "notes", json.RawMessage(`{"_id":"`+i+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := c.GetDBInfo(u, id)
	if err != nil {
		t.Fatal(err)
	}
	return id, info.Key
}

func (v *replVictim) find(t *testing.T) []json.RawMessage {
	t.Helper()
	got, err := v.owner.Threads.Find(v.owner.User, v.db, "notes", nil)
	if err != nil {
		t.Fatalf("the tenant cannot read its DB: %v", err)
	}
	return got
}

// unharmed checks what every attack must leave as it was: hubd is up, its
// memory is bounded, the tenant's DB holds the same notes, and another
// tenant is served.
func (v *replVictim) unharmed(t *testing.T) {
	t.Helper()
	v.h.alive(t)
	if _, peak := v.h.rss(t); peak > 512<<20 {
		t.Fatalf("hubd's peak resident set is %d MiB; want well under a GiB", peak>>20)
	}
	if got := v.find(t); !slices.EqualFunc(got, v.notes, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
		t.Fatalf("the tenant's DB holds %s; want %s, unchanged", got, v.notes)
	}
	v.bystander.mustBeServed(t)
}

// attacker is a libp2p host in the test process that speaks the
// replication protocol to the victim by hand, byte by byte.
type attacker struct {
	host host.Host
	hub  peer.ID
}

func newAttacker(t *testing.T, v *replVictim) *attacker {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ai, err := peer.AddrInfoFromString(v.h.Addrs.P2P[0])
	if err != nil {
		t.Fatal(err)
	}
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	return &attacker{host: h, hub: ai.ID}
}

// replRequest is the request frame that opens every stream.
type replRequest struct {
	Op     string `json:"op"`
	Thread string `json:"thread"`
	MAC    []byte `json:"mac"`
	Log    string `json:"log,omitempty"`
	After  string `json:"after,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// replAnswer is the hub's answer frame.
type replAnswer struct {
	Err  string `json:"err"`
	Logs []struct {
		Log string `json:"log"`
	} `json:"logs"`
	Ingested int `json:"ingested"`
}

// request is a request for thread id whose proof is made with key, as
// the protocol says: HMAC-SHA256 under the service key over the protocol,
// the thread and both peers, each part length-prefixed. An undefined key
// gives a random proof: the attacker does not hold the key.
func (a *attacker) request(op string, id threads.ID, key threads.Key) replRequest {
	req := replRequest{Op: op, Thread: id.String(), MAC: make([]byte, sha256.Size)}
	if !key.Defined() {
		rand.Read(req.MAC)
		return req
	}
	m := hmac.New(sha256.New, key.Service().Bytes())
	for _, part := range [][]byte{[]byte(replicate.ProtocolID), id.Bytes(), []byte(a.host.ID()), []byte(a.hub)} {
		m.Write(binary.AppendUvarint(nil, uint64(len(part))))
		m.Write(part)
	}
	req.MAC = m.Sum(nil)
	return req
}

// frame is b as the protocol frames it: uvarint(length) || b.
func frame(b []byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(b))), b...) }

func jsonFrame(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return frame(b)
}

// open opens a replication stream to the hub; nil when the hub refuses
// it before it is open.
func (a *attacker) open(t *testing.T) network.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := a.host.NewStream(ctx, a.hub, replicate.ProtocolID)
	if err != nil {
		t.Logf("the hub refused a stream: %v", err)
		return nil
	}
	s.SetDeadline(time.Now().Add(2 * time.Minute)) // generous: the hub's own bound is what is tested
	return s
}

// exchange sends the bytes on a new stream, ends its write side, and
// returns the frames the hub sent, and whether it ended the stream by
// closing it (true) or by resetting or refusing it (false).
func (a *attacker) exchange(t *testing.T, raw ...[]byte) (frames [][]byte, closed bool) {
	t.Helper()
	s := a.open(t)
	if s == nil {
		return nil, false
	}
	for _, b := range raw {
		if _, err := s.Write(b); err != nil {
			s.Reset()
			return nil, false
		}
	}
	s.CloseWrite()
	return readToEnd(t, s)
}

// readToEnd reads the hub's frames until it ends stream s.
func readToEnd(t *testing.T, s network.Stream) (frames [][]byte, closed bool) {
	t.Helper()
	got, err := io.ReadAll(s)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("within two minutes the hub neither answered nor ended the stream")
	}
	for len(got) > 0 {
		n, k := binary.Uvarint(got)
		if k <= 0 || uint64(len(got)-k) < n {
			t.Fatalf("the hub sent a malformed frame: %q", got)
		}
		frames = append(frames, got[k:k+int(n)])
		got = got[k+int(n):]
	}
	return frames, err == nil
}

// answer decodes the first frame as the hub's answer.
func answerOf(t *testing.T, frames [][]byte) replAnswer {
	t.Helper()
	var a replAnswer
	if len(frames) == 0 {
		t.Fatal("the hub sent no answer")
	}
	if err := json.Unmarshal(frames[0], &a); err != nil {
		t.Fatalf("the hub's answer %q: %v", frames[0], err)
	}
	return a
}

// mustBeCut fails unless the hub ended the stream without answering.
func mustBeCut(t *testing.T, what string, frames [][]byte, closed bool) {
	t.Helper()
	if closed || len(frames) != 0 {
		t.Fatalf("%s: the hub answered %q (closed %v); want the stream reset unanswered", what, frames, closed)
	}
}

// mustBeBanned fails unless the hub drops the attacker's connection and
// then refuses its next request, one it would otherwise answer, on a new
// one.
func (a *attacker) mustBeBanned(t *testing.T, v *replVictim) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for a.host.Network().Connectedness(a.hub) == network.Connected {
		if time.Now().After(deadline) {
			t.Fatal("the hub did not drop the connection of a peer it bans")
		}
		time.Sleep(20 * time.Millisecond) // polling, not waiting for state
	}
	frames, closed := a.exchange(t, jsonFrame(t, a.request("heads", v.db, v.key)))
	mustBeCut(t, "a banned peer's request", frames, closed)
}

// mustRefuseRecords pushes record frames to the tenant's DB and fails
// unless the hub refuses them and bans the attacker.
func (a *attacker) mustRefuseRecords(t *testing.T, v *replVictim, what string, records ...[]byte) {
	t.Helper()
	frames, closed := a.push(t, v.db, v.key, records...)
	if closed && answerOf(t, frames).Err == "" {
		t.Fatalf("%s was answered %q; want a refusal", what, frames)
	}
	a.mustBeBanned(t, v)
}

// pull pulls the first log of thread id from the hub, with key, from its
// first record, and returns the record frames.
func (a *attacker) pull(t *testing.T, id threads.ID, key threads.Key) [][]byte {
	t.Helper()
	frames, closed := a.exchange(t, jsonFrame(t, a.request("heads", id, key)))
	heads := answerOf(t, frames)
	if !closed || heads.Err != "" || len(heads.Logs) == 0 {
		t.Fatalf("heads of a DB, asked with its key: %+v (closed %v)", heads, closed)
	}
	req := a.request("pull", id, key)
	req.Log, req.Limit = heads.Logs[0].Log, replBatch
	frames, closed = a.exchange(t, jsonFrame(t, req))
	if ans := answerOf(t, frames); !closed || ans.Err != "" || len(frames) < 3 || len(frames[len(frames)-1]) != 0 {
		t.Fatalf("pull of a DB's log, asked with its key: %+v, %d frames (closed %v)", ans, len(frames), closed)
	}
	return frames[1 : len(frames)-1]
}

// push pushes record frames to thread id with key and returns the frames
// the hub answered with.
func (a *attacker) push(t *testing.T, id threads.ID, key threads.Key, records ...[]byte) ([][]byte, bool) {
	t.Helper()
	raw := [][]byte{jsonFrame(t, a.request("push", id, key))}
	for _, r := range records {
		raw = append(raw, frame(r))
	}
	return a.exchange(t, append(raw, frame(nil))...)
}

// resigned is record frame rec with its record block signed by another
// key than its log's: the record still names the log's public key, so it
// claims to be the log's, but the signature is not the log's.
func resigned(t *testing.T, key threads.Key, rec []byte) []byte {
	t.Helper()
	blocks := decodeRecordFrame(t, rec)
	r, err := threads.DecodeRecord(key, blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	ciphertext := blocks[0].Data[cborBytesHeader(blocks[0].Data):]
	plain, err := key.Service().Decrypt(ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed := r.Event.Bytes()
	if r.Prev.Defined() {
		signed = append(signed, r.Prev.Bytes()...)
	}
	sig, err := wrong.Sign(signed)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != len(r.Sig) || !bytes.Contains(plain, r.Sig) {
		t.Fatal("the record's signature is not where a forger would replace it")
	}
	sealed, err := key.Service().Encrypt(bytes.Replace(plain, r.Sig, sig, 1))
	if err != nil {
		t.Fatal(err)
	}
	data := append(cborBytes(len(sealed)), sealed...)
	c, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: mh.SHA2_256, MhLength: 32}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	blocks[0] = threads.Block{Cid: c, Data: data}
	out := binary.AppendUvarint(nil, uint64(len(blocks)))
	for _, b := range blocks {
		out = append(binary.AppendUvarint(out, uint64(b.Cid.ByteLen())), b.Cid.Bytes()...)
		out = append(binary.AppendUvarint(out, uint64(len(b.Data))), b.Data...)
	}
	return out
}

// decodeRecordFrame splits a record frame into its blocks.
func decodeRecordFrame(t *testing.T, b []byte) []threads.Block {
	t.Helper()
	next := func() []byte {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			t.Fatalf("malformed record frame")
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f
	}
	n, k := binary.Uvarint(b)
	b = b[k:]
	var out []threads.Block
	for range n {
		c, err := cid.Cast(next())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, threads.Block{Cid: c, Data: next()})
	}
	return out
}

// cborBytes is the dag-cbor head of a byte string of n bytes.
func cborBytes(n int) []byte {
	switch {
	case n < 24:
		return []byte{0x40 | byte(n)}
	case n < 1<<8:
		return []byte{0x58, byte(n)}
	default:
		return binary.BigEndian.AppendUint16([]byte{0x59}, uint16(n))
	}
}

// cborBytesHeader is the length of the dag-cbor byte string head that
// starts data.
func cborBytesHeader(data []byte) int {
	switch data[0] {
	case 0x58:
		return 2
	case 0x59:
		return 3
	}
	return 1
}

// TestReplicationAttacks: an attacker's libp2p host speaks
// /hub/threads/replicate/1.0.0 to a child hubd that hosts a tenant's DB.
// Without the DB's key it learns nothing (a request for the DB is refused
// in the same words as one for a DB that does not exist); with or without
// it, oversized frames, garbage, more streams than a peer may hold, forged
// and replayed records and an endless push change nothing. After each,
// hubd is up, its memory bounded, the tenant's DB unchanged and another
// tenant served; the attacker is refused or cut off, and banned when it
// sent a record that does not verify.
func TestReplicationAttacks(t *testing.T) {
	v := startReplVictim(t, "--repl-max-frame", fmt.Sprint(replMaxFrame),
		"--repl-max-streams-per-peer", fmt.Sprint(replStreams), "--repl-batch", fmt.Sprint(replBatch),
		"--repl-timeout", "10m", "--repl-ban-time", "1h")
	none := threads.Key{}

	t.Run("without the key, refused alike", func(t *testing.T) {
		a := newAttacker(t, v)
		absent, err := threads.NewID(threads.Raw)
		if err != nil {
			t.Fatal(err)
		}
		wrongKey, err := threads.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		// A proof the owner's key made for another peer, replayed.
		replayed := newAttacker(t, v).request("heads", v.db, v.key)
		malformed := a.request("heads", v.db, none)
		malformed.Thread = "not a thread"
		var want []byte
		for _, tc := range []struct {
			name string
			req  replRequest
		}{
			{"heads of the DB, random proof", a.request("heads", v.db, none)},
			{"heads of an absent DB", a.request("heads", absent, none)},
			{"heads of the DB, another key's proof", a.request("heads", v.db, wrongKey)},
			{"heads of an absent DB, another key's proof", a.request("heads", absent, wrongKey)},
			{"heads of the DB, another peer's proof", replayed},
			{"pull of the DB", a.request("pull", v.db, none)},
			{"push to the DB", a.request("push", v.db, none)},
			{"push to an absent DB", a.request("push", absent, none)},
			{"malformed thread ID", malformed},
		} {
			frames, closed := a.exchange(t, jsonFrame(t, tc.req))
			if !closed || len(frames) != 1 || answerOf(t, frames).Err == "" {
				t.Fatalf("%s: the hub answered %q (closed %v); want one refusal", tc.name, frames, closed)
			}
			if want == nil {
				want = frames[0]
			}
			if !bytes.Equal(frames[0], want) {
				t.Fatalf("%s: refused with %s; want the same refusal as for every other, %s", tc.name, frames[0], want)
			}
		}
		if strings.Contains(string(want), v.db.String()) {
			t.Fatalf("the refusal %s names the DB", want)
		}
		v.unharmed(t)
	})

	t.Run("oversized frames", func(t *testing.T) {
		a := newAttacker(t, v)
		// A request frame past what any request needs, claimed and sent.
		big := make([]byte, replMaxFrame+1)
		frames, closed := a.exchange(t, frame(big))
		mustBeCut(t, "a request frame past the frame limit", frames, closed)
		// A frame whose length is the largest a uvarint holds.
		frames, closed = a.exchange(t, binary.AppendUvarint(nil, 1<<63))
		mustBeCut(t, "a frame of 2^63 bytes", frames, closed)
		// With the key: a record frame one byte past --repl-max-frame.
		frames, closed = a.exchange(t, jsonFrame(t, a.request("push", v.db, v.key)), frame(big))
		mustBeCut(t, "a record frame past --repl-max-frame", frames, closed)
		v.unharmed(t)
	})

	t.Run("garbage", func(t *testing.T) {
		a := newAttacker(t, v)
		junk := make([]byte, 4096)
		rand.Read(junk)
		frames, closed := a.exchange(t, junk)
		mustBeCut(t, "random bytes", frames, closed)
		frames, closed = a.exchange(t, frame([]byte(`{"op":"heads","thread":`)))
		mustBeCut(t, "a request that is not JSON", frames, closed)
		// With the key, garbage where a record goes: it does not verify.
		a.mustRefuseRecords(t, v, "garbage pushed as a record", junk[:100])
		v.unharmed(t)
	})

	t.Run("more streams than a peer may hold", func(t *testing.T) {
		a := newAttacker(t, v)
		// Streams that hold their slots: a push whose record frame is one
		// byte short. Sending more than a stream's flow-control window
		// shows that the hub reads it, so it has taken the slot.
		held := make([]network.Stream, replStreams)
		for i := range held {
			if held[i] = a.open(t); held[i] == nil {
				t.Fatalf("stream %d of the %d a peer may hold was refused", i+1, replStreams)
			}
			raw := append(jsonFrame(t, a.request("push", v.db, v.key)), binary.AppendUvarint(nil, replMaxFrame)...)
			if _, err := held[i].Write(append(raw, make([]byte, replMaxFrame-1)...)); err != nil {
				t.Fatalf("stream %d of the %d a peer may hold: %v", i+1, replStreams, err)
			}
		}
		frames, closed := a.exchange(t, jsonFrame(t, a.request("heads", v.db, v.key)))
		mustBeCut(t, "a stream past --repl-max-streams-per-peer", frames, closed)
		v.unharmed(t)
		// Once the attacker lets its streams go, it is served again.
		for _, s := range held {
			s.Reset()
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			frames, closed := a.exchange(t, jsonFrame(t, a.request("heads", v.db, v.key)))
			if closed && len(frames) == 1 && answerOf(t, frames).Err == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the hub did not free the slots of streams the peer reset")
			}
			time.Sleep(50 * time.Millisecond) // polling, not waiting for state
		}
	})

	t.Run("replayed records", func(t *testing.T) {
		a := newAttacker(t, v)
		records := a.pull(t, v.db, v.key)
		frames, closed := a.push(t, v.db, v.key, records[0], records[0], records[1])
		if ans := answerOf(t, frames); !closed || ans.Err != "" || ans.Ingested != 0 {
			t.Fatalf("records the hub holds, pushed again: %+v (closed %v); want nothing ingested", ans, closed)
		}
		v.unharmed(t)
	})

	t.Run("an endless push", func(t *testing.T) {
		a := newAttacker(t, v)
		records := a.pull(t, v.db, v.key)
		s := a.open(t)
		if s == nil {
			t.Fatal("the hub refused the push stream")
		}
		// Records it holds, without end, until the hub stops reading.
		req, rec := jsonFrame(t, a.request("push", v.db, v.key)), frame(records[0])
		go func() {
			if _, err := s.Write(req); err != nil {
				return
			}
			for {
				if _, err := s.Write(rec); err != nil {
					return
				}
			}
		}()
		frames, _ := readToEnd(t, s)
		if len(frames) > 0 && answerOf(t, frames).Err == "" {
			t.Fatalf("an endless push was answered %q; want a refusal", frames)
		}
		a.mustBeBanned(t, v)
		v.unharmed(t)
	})

	t.Run("record signed by another key than its log's", func(t *testing.T) {
		a := newAttacker(t, v)
		records := a.pull(t, v.db, v.key)
		a.mustRefuseRecords(t, v, "a forged record", resigned(t, v.key, records[0]))
		v.unharmed(t)
	})

	t.Run("record of another thread", func(t *testing.T) {
		a := newAttacker(t, v)
		records := a.pull(t, v.other, v.otherKey)
		a.mustRefuseRecords(t, v, "another DB's record", records[0])
		v.unharmed(t)
	})
}

// TestReplicationStalledFrames: a peer that starts a frame and never
// finishes it, with or without the DB's key, is cut off when
// --repl-timeout ends, and holds nothing of the hub's afterwards.
func TestReplicationStalledFrames(t *testing.T) {
	v := startReplVictim(t, "--repl-max-frame", fmt.Sprint(replMaxFrame), "--repl-timeout", "2s")
	a := newAttacker(t, v)
	for _, tc := range []struct {
		name string
		raw  [][]byte
	}{
		{"a request never finished", [][]byte{binary.AppendUvarint(nil, 1000), []byte(`{"op":"heads"`)}},
		{"a record never finished", [][]byte{jsonFrame(t, a.request("push", v.db, v.key)),
			binary.AppendUvarint(nil, replMaxFrame), make([]byte, replMaxFrame/2)}},
	} {
		s := a.open(t)
		if s == nil {
			t.Fatalf("%s: the hub refused the stream", tc.name)
		}
		for _, b := range tc.raw {
			if _, err := s.Write(b); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		// The write side stays open: the hub waits for the rest until its
		// own deadline, then resets the stream.
		frames, closed := readToEnd(t, s)
		mustBeCut(t, tc.name, frames, closed)
	}
	v.unharmed(t)
}

// TestReplicationMemory: one holder of a DB's key, as many peers as it
// likes (peer IDs cost nothing), each with all the streams a peer may
// hold, each sending a record frame of --repl-max-frame (16 MiB, the
// default) that it never finishes: without a bound across peers the hub
// would hold 768 MiB of frames. It holds at most --repl-max-memory (32
// MiB); the streams that found no room are cut off at --repl-timeout.
func TestReplicationMemory(t *testing.T) {
	const peers, streams, frameSize = 6, 8, 16 << 20
	v := startReplVictim(t, "--repl-max-frame", fmt.Sprint(frameSize), "--repl-max-memory", fmt.Sprint(2*frameSize),
		"--repl-max-streams-per-peer", fmt.Sprint(streams), "--repl-timeout", "5s")
	var ended sync.WaitGroup
	for range peers {
		a := newAttacker(t, v)
		raw := append(jsonFrame(t, a.request("push", v.db, v.key)), binary.AppendUvarint(nil, frameSize)...)
		raw = append(raw, make([]byte, frameSize-1)...)
		for range streams {
			s := a.open(t)
			if s == nil {
				t.Fatal("the hub refused a stream within the per-peer limit")
			}
			ended.Add(1)
			go func() {
				defer ended.Done()
				s.Write(raw) // ends when the hub has read it all, or resets the stream
			}()
			t.Cleanup(func() {
				if frames, closed := readToEnd(t, s); closed || len(frames) != 0 {
					t.Errorf("a record frame never finished was answered %q (closed %v); want the stream reset", frames, closed)
				}
			})
		}
	}
	ended.Wait()
	_, peak := v.h.rss(t)
	t.Logf("hubd's peak resident set after %d streams of unfinished %d MiB frames: %d MiB", peers*streams, frameSize>>20, peak>>20)
	v.unharmed(t)
}
