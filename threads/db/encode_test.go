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

// TestDecodeDocRecord: what encode writes, and what json.Marshal wrote
// before it ("Deleted":false included), decodes to the record encoded,
// strings that need escaping included (those take json.Unmarshal's way).
func TestDecodeDocRecord(t *testing.T) {
	for _, s := range []string{"", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", `quote " and \ backslash`, "ünïcödé ✓", "\x00"} {
		for _, r := range []docRecord{
			{Version: version{Time: 1 << 62, Log: s}, Value: json.RawMessage(`{"_id":"x","n":[1,2.5,"s"],"o":{"k":null}}`)},
			{Version: version{Time: -42, Log: s}, Deleted: true},
			{Version: version{Time: 0, Log: s}},
		} {
			old, _ := json.Marshal(struct {
				Version version
				Deleted bool
				Value   json.RawMessage `json:",omitempty"`
			}{r.Version, r.Deleted, r.Value})
			for _, enc := range [][]byte{r.encode(), old} {
				got, err := decodeDocRecord(enc)
				if err != nil || !reflect.DeepEqual(*got, r) {
					t.Errorf("%s decodes to %+v, %v; want %+v", enc, got, err, r)
				}
			}
		}
	}
}

// FuzzDecodeDocRecord: whatever the bytes, decodeDocRecord agrees with
// json.Unmarshal, except that it does not check the instance JSON it
// copies (a stored record's was checked when it was written): when it
// accepts what json.Unmarshal refuses, the instance is what is invalid.
func FuzzDecodeDocRecord(f *testing.F) {
	r := docRecord{Version: version{Time: 7, Log: "12D3KooW"}, Value: json.RawMessage(`{"_id":"x"}`)}
	f.Add(r.encode())
	f.Add((&docRecord{Version: version{Time: -1, Log: `a"b`}, Deleted: true}).encode())
	f.Add([]byte(`{"Version":{"t":1,"l":"x"},"Deleted":false,"Value":{"a":1}}`))
	f.Add([]byte(`{"Version":{"t":1,"l":"x"},"Value":{"a":}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeDocRecord(data)
		var want docRecord
		stdErr := json.Unmarshal(data, &want)
		if err != nil {
			if stdErr == nil {
				t.Fatalf("%q: refused (%v), json.Unmarshal takes it", data, err)
			}
			return
		}
		if len(want.Value) == 0 {
			want.Value = nil
		}
		if len(got.Value) == 0 {
			got.Value = nil
		}
		if (stdErr != nil || !reflect.DeepEqual(*got, want)) && (got.Value == nil || json.Valid(got.Value)) {
			t.Fatalf("%q: taken as %+v; json.Unmarshal gives %+v, %v", data, *got, want, stdErr)
		}
	})
}
