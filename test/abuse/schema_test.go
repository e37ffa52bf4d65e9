package abuse

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
)

// exponentialSchema recurses through two branches of allOf into the same
// property: checking an instance n deep takes 2^n steps. Unbounded, an
// instance of 130 bytes, 20 deep, ran hubd out of memory.
const exponentialSchema = `{"type":"object","allOf":[{"properties":{"a":{"$ref":"#"}}},{"properties":{"a":{"$ref":"#"}}}]}`

// treeSchema is legitimately recursive and must keep working.
const treeSchema = `{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}},"required":["name"]}`

// maxMessage bounds every refusal's message: well inside a gRPC trailer.
const maxMessage = 2 << 10

// TestExponentialSchema sets the exponential schema every way a tenant
// can (NewDB, NewCollection, UpdateCollection) and is refused each time
// with InvalidArgument; a schema that branches within the work limit
// (--schema-max-work, lowered here) is accepted, and its expensive writes
// are refused with a short message or, past the limit, unchecked with
// ResourceExhausted. Throughout, hubd stays up
// with a bounded RSS, the attacker's stored data and tree-shaped
// collection are unchanged and still validate, and another tenant is
// served.
func TestExponentialSchema(t *testing.T) {
	h := startHub(t, "--schema-max-work", "100000")
	mallory, victor := newTenant(t, h, "mallory"), newTenant(t, h, "victor")
	_, peakBefore := h.rss(t)

	// A tree collection with data, to check nothing of it changes.
	db, err := mallory.Threads.NewDB(mallory.User, "", threadsclient.DBOptions{Name: "trees",
		Collections: []threadsclient.CollectionConfig{{Name: "trees", Schema: json.RawMessage(treeSchema)}}})
	if err != nil {
		t.Fatalf("NewDB with a tree schema: %v", err)
	}
	if _, err := mallory.Threads.Create(mallory.User, db, "trees", json.RawMessage(deepTree(60))); err != nil {
		t.Fatalf("a tree 60 deep refused: %v", err)
	}
	stored := snapshot(t, mallory, db, "trees")

	// The attack, every way a schema is set.
	exp := threadsclient.CollectionConfig{Name: "exp", Schema: json.RawMessage(exponentialSchema)}
	refusedSchema := func(what string, err error) {
		t.Helper()
		msg := errors.Message(err)
		if rpcerr.Code(err) != codes.InvalidArgument || !strings.Contains(msg, "more than one branch") || len(msg) > maxMessage {
			t.Errorf("%s with the exponential schema: %v (%s), want InvalidArgument saying why in at most %d bytes", what, rpcerr.Code(err), msg, maxMessage)
		}
	}
	_, err = mallory.Threads.NewDB(mallory.User, "", threadsclient.DBOptions{Name: "exp", Collections: []threadsclient.CollectionConfig{exp}})
	refusedSchema("NewDB", err)
	refusedSchema("NewCollection", mallory.Threads.NewCollection(mallory.User, db, exp))
	exp.Name = "trees"
	refusedSchema("UpdateCollection", mallory.Threads.UpdateCollection(mallory.User, db, exp))
	if got := snapshot(t, mallory, db, "trees"); got != stored {
		t.Errorf("stored data changed by refused schemas:\n%s\nwant\n%s", got, stored)
	}
	dbs, err := mallory.Threads.ListDBs(mallory.User)
	if err != nil || len(dbs) != 1 {
		t.Errorf("ListDBs: %d DBs (%v), want the one made before the attack", len(dbs), err)
	}

	// The tree collection still validates: a node without a name deep
	// down is refused, naming where, in a short message.
	bad := strings.Replace(deepTree(60), `{"name":"leaf"}`, `{"children":[]}`, 1)
	_, err = mallory.Threads.Create(mallory.User, db, "trees", json.RawMessage(bad))
	if msg := errors.Message(err); rpcerr.Code(err) != codes.InvalidArgument || !strings.Contains(msg, "missing property 'name'") || len(msg) > maxMessage {
		t.Errorf("a nameless node: %v (%s), want InvalidArgument naming it", rpcerr.Code(err), msg)
	}

	// A schema that branches (2^12 checks of each value) but stays under
	// the limit: accepted, and its writes bounded.
	wide := threadsclient.CollectionConfig{Name: "wide", Schema: json.RawMessage(branching(12))}
	if err := mallory.Threads.NewCollection(mallory.User, db, wide); err != nil {
		t.Fatalf("a schema branching within the limit refused: %v", err)
	}
	_, err = mallory.Threads.Create(mallory.User, db, "wide", json.RawMessage(`{"x":1}`))
	t.Logf("a write failing 2^12 ways: %d bytes of message", len(errors.Message(err)))
	if msg := errors.Message(err); rpcerr.Code(err) != codes.InvalidArgument || !strings.Contains(msg, "missing property 'absent'") || len(msg) > maxMessage {
		t.Errorf("a write failing 2^12 ways: %v (%d bytes: %.300s), want InvalidArgument with its cause", rpcerr.Code(err), len(msg), msg)
	}
	_, err = mallory.Threads.Create(mallory.User, db, "wide", json.RawMessage(`{"x":1,"y":2,"z":3}`))
	if msg := errors.Message(err); rpcerr.Code(err) != codes.ResourceExhausted || !strings.Contains(msg, "over this hub's limit of 100000") {
		t.Errorf("a write needing more checks than the limit: %v (%s), want ResourceExhausted", rpcerr.Code(err), msg)
	}

	if got := snapshot(t, mallory, db, "trees"); got != stored {
		t.Errorf("stored data changed by refused writes:\n%s\nwant\n%s", got, stored)
	}
	if got := snapshot(t, mallory, db, "wide"); !strings.Contains(got, " 0 instances") {
		t.Errorf("refused writes stored: %s", got)
	}
	h.alive(t)
	victor.mustBeServed(t)
	_, peak := h.rss(t)
	t.Logf("hubd's peak RSS: %d MiB before the attack, %d MiB after", peakBefore>>20, peak>>20)
	if peak-peakBefore > 256<<20 {
		t.Errorf("hubd's peak RSS grew by %d MiB under the attack", (peak-peakBefore)>>20)
	}
}

// deepTree is a tree of nodes nested n deep, down to a node named leaf.
func deepTree(n int) string {
	return strings.Repeat(`{"name":"n","children":[`, n) + `{"name":"leaf"}` + strings.Repeat(`]}`, n)
}

// branching is a schema of n definitions, each applying the next one twice
// to the same value, the last requiring a property no instance has: 2^n
// failing checks per value, with no recursion.
func branching(n int) string {
	defs := make([]string, n)
	for i := range defs {
		next := fmt.Sprintf(`{"$ref":"#/definitions/b%d"}`, i+1)
		if i == n-1 {
			next = `{"required":["absent"]}`
		}
		defs[i] = fmt.Sprintf(`"b%d":{"allOf":[%s,%s]}`, i, next, next)
	}
	return `{"$ref":"#/definitions/b0","definitions":{` + strings.Join(defs, ",") + `}}`
}

// snapshot renders a collection's schema and instances, to compare.
func snapshot(t *testing.T, tn *tenant, db threadsclient.ID, col string) string {
	t.Helper()
	c, err := tn.Threads.GetCollectionInfo(tn.User, db, col)
	if err != nil {
		t.Fatalf("GetCollectionInfo %s: %v", col, err)
	}
	found, err := tn.Threads.FindJSON(tn.User, db, col, []byte(`{}`))
	if err != nil {
		t.Fatalf("Find in %s: %v", col, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d instances\n", c.Schema, len(found))
	for _, f := range found {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	return b.String()
}

// TestSchemaTimeout: with the work bound raised far past what any machine
// checks in a second (about 2^41 subschema checks of one value), a write whose
// check would take that long is stopped at --schema-timeout and refused
// with DeadlineExceeded and a short message saying what to do, without
// running the check to its end; what the collection holds is unchanged,
// hubd stays up and another tenant, whose writes meet the hub's own
// small schemas, is served well inside the same deadline.
func TestSchemaTimeout(t *testing.T) {
	h := startHub(t, "--schema-timeout", "1s", "--schema-max-work", strconv.Itoa(1<<50))
	mallory, victor := newTenant(t, h, "mallory"), newTenant(t, h, "victor")
	db, err := mallory.Threads.NewDB(mallory.User, "", threadsclient.DBOptions{Name: "slow",
		Collections: []threadsclient.CollectionConfig{{Name: "slow", Schema: json.RawMessage(branching(40))}}})
	if err != nil {
		t.Fatalf("NewDB with a schema within the work limit: %v", err)
	}
	stored := snapshot(t, mallory, db, "slow")
	for range 3 {
		_, err = mallory.Threads.Create(mallory.User, db, "slow", json.RawMessage(`{"x":1}`))
		msg := errors.Message(err)
		if rpcerr.Code(err) != codes.DeadlineExceeded || !strings.Contains(msg, "longer than this hub allows (1s; stopped after") ||
			!strings.Contains(msg, "simplify the schema") || len(msg) > maxMessage {
			t.Fatalf("a write past --schema-timeout: %v (%s); want DeadlineExceeded saying what to do", rpcerr.Code(err), msg)
		}
	}
	t.Logf("refused with: %s", errors.Message(err))
	if got := snapshot(t, mallory, db, "slow"); got != stored {
		t.Errorf("stored data changed by refused writes:\n%s\nwant\n%s", got, stored)
	}
	h.alive(t)
	victor.mustBeServed(t)
}
