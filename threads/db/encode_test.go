package db

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestEncoders checks that the hand-written encoders produce JSON that
// decodes to what was encoded, as json.Marshal's would, strings that need
// escaping included.
func TestEncoders(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnewline\n", "<html>&", "ünïcödé ✓", "\x00\x1f", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"} {
		v := json.RawMessage(`{"_id":"x","n":[1,2.5,"s"],"o":{"k":null}}`)
		doc := docRecord{Version: version{Time: -42, Log: s}, Value: v}
		tomb := docRecord{Version: version{Time: 1 << 62, Log: s}, Deleted: true}
		ev := eventBody{Time: 7, Ops: []operation{{Kind: opCreate, Col: s, ID: s, Value: v}, {Kind: opDelete, Col: "c", ID: s}, {Kind: opCollSet, Col: s}}}
		chg := change{Col: s, ID: s, Action: ActionSave, Value: v}
		del := change{Col: s, ID: s, Action: ActionDelete}
		for _, c := range []struct {
			name string
			enc  []byte
			orig any
		}{
			{"docRecord", doc.encode(), &doc},
			{"tombstone", tomb.encode(), &tomb},
			{"eventBody", ev.encode(), &ev},
			{"change", chg.encode(), &chg},
			{"delete change", del.encode(), &del},
		} {
			if !json.Valid(c.enc) {
				t.Fatalf("%s with %q: invalid JSON %s", c.name, s, c.enc)
			}
			back := reflect.New(reflect.TypeOf(c.orig).Elem())
			if err := json.Unmarshal(c.enc, back.Interface()); err != nil {
				t.Fatalf("%s with %q: %v", c.name, s, err)
			}
			if !reflect.DeepEqual(back.Interface(), c.orig) {
				t.Errorf("%s with %q: %s decodes to %+v, want %+v", c.name, s, c.enc, back.Elem(), reflect.ValueOf(c.orig).Elem())
			}
			std, _ := json.Marshal(c.orig)
			if string(std) != string(c.enc) {
				t.Errorf("%s with %q: %s; json.Marshal gives %s", c.name, s, c.enc, std)
			}
		}
	}
}
