package abuse

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/selfhub/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/threads"
)

// ownRecord is the frame of the first record of a log the attacker
// makes, in thread id under key, creating instance iid of notes: a
// record that verifies, from a log no one granted.
func ownRecord(t *testing.T, key threads.Key, iid string) []byte {
	t.Helper()
	logKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"t": time.Now().UnixNano(), "o": []map[string]any{{"k": "create", "c": "notes", "i": iid, "v": json.RawMessage(`{"_id":"` + iid + `"}`)}}})
	_, blocks, err := threads.NewRecord(key, logKey, cid.Undef, body, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out := binary.AppendUvarint(nil, uint64(len(blocks)))
	for _, b := range blocks {
		out = append(binary.AppendUvarint(out, uint64(b.Cid.ByteLen())), b.Cid.Bytes()...)
		out = append(binary.AppendUvarint(out, uint64(len(b.Data))), b.Data...)
	}
	return out
}

// TestReplicationACLRefusals: a child hubd hosts an access-controlled DB.
// Attackers that hold its key push records of logs its list never granted,
// one as their writer and one relaying the other's: each is refused, with
// the reason logged, and changes nothing; neither is banned (an honest
// peer may relay a record before the grant or revocation that rules on
// it), the tenant's DB keeps its notes and the hub serves its tenants.
func TestReplicationACLRefusals(t *testing.T) {
	v := &replVictim{h: startHub(t)}
	v.owner, v.bystander = newTenant(t, v.h, "owner"), newTenant(t, v.h, "bystander")
	c, owner := v.owner.Threads, v.owner.User
	id, err := c.NewACLDB(owner, hub.DBOptions{Name: "team"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.NewCollection(owner, id, threadsclient.CollectionConfig{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(owner, id, "notes", json.RawMessage(`{"_id":"n1"}`)); err != nil {
		t.Fatal(err)
	}
	info, err := c.GetDBInfo(owner, id)
	if err != nil {
		t.Fatal(err)
	}
	v.db, v.key = id, info.Key
	v.notes = v.find(t)

	writer, relay := newAttacker(t, v), newAttacker(t, v)
	forged := ownRecord(t, v.key, "evil")
	for _, a := range []*attacker{writer, relay} {
		frames, closed := a.push(t, v.db, v.key, forged)
		if ans := answerOf(t, frames); !closed || ans.Ingested != 0 || ans.Err != "" {
			t.Fatalf("a record of a log the list never granted was answered %+v (closed %v); want nothing ingested and no error", ans, closed)
		}
		// Not banned: the hub answers the same peer again.
		frames, closed = a.exchange(t, jsonFrame(t, a.request("heads", v.db, v.key)))
		if ans := answerOf(t, frames); !closed || ans.Err != "" {
			t.Fatalf("after a refused record, heads was answered %+v (closed %v); want an answer", ans, closed)
		}
		v.unharmed(t)
	}
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case rec := <-v.h.Logs:
			reason, _ := rec["reason"].(string)
			if rec["msg"] == "replication: refused a record" && strings.Contains(reason, "access control list") && strings.Contains(reason, "never granted") {
				return
			}
		case <-deadline:
			t.Fatal("hubd logged no refusal of the record with its reason within 2 minutes")
		}
	}
}
