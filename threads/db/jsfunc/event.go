package jsfunc

import (
	"bytes"
	"encoding/json"

	"github.com/selfhub/hub/errors"
)

// EventType is the kind of write an Event describes.
type EventType string

// The event types, as go-threads names them.
const (
	Create EventType = "create"
	Save   EventType = "save"
	Delete EventType = "delete"
)

// Event describes a write for a validator. Its JSON, the event argument
// of Validate, is the go-threads event (so validators written for the
// Textile Hub read it unchanged) with three short aliases:
//
//	{
//	  "timestamp": 1700000000000000000,
//	  "_id": "<instance ID>",
//	  "collection_name": "<collection>",
//	  "patch": {"type": "create|save|delete", "instance_id": "<instance ID>", "json_patch": <Patch, absent when nil>},
//	  "type": "create|save|delete", "collection": "<collection>", "instanceID": "<instance ID>"
//	}
type Event struct {
	// Type is the kind of write.
	Type EventType
	// Collection is the collection's name.
	Collection string
	// InstanceID is the instance's _id.
	InstanceID string
	// Time is when the write was made, in Unix nanoseconds.
	Time int64
	// Patch is, for a create, the new instance; for a save, the merge
	// patch (RFC 7386, see MergePatch) from the stored instance to the new
	// one; for a delete, nil.
	Patch json.RawMessage
}

// MarshalJSON encodes e in the shape shown on Event.
func (e Event) MarshalJSON() ([]byte, error) {
	type patch struct {
		Type       EventType       `json:"type"`
		InstanceID string          `json:"instance_id"`
		JSONPatch  json.RawMessage `json:"json_patch,omitempty"`
	}
	return json.Marshal(struct {
		Timestamp      int64     `json:"timestamp"`
		ID             string    `json:"_id"`
		CollectionName string    `json:"collection_name"`
		Patch          patch     `json:"patch"`
		Type           EventType `json:"type"`
		Collection     string    `json:"collection"`
		InstanceID     string    `json:"instanceID"`
	}{
		Timestamp:      e.Time,
		ID:             e.InstanceID,
		CollectionName: e.Collection,
		Patch:          patch{Type: e.Type, InstanceID: e.InstanceID, JSONPatch: e.Patch},
		Type:           e.Type,
		Collection:     e.Collection,
		InstanceID:     e.InstanceID,
	})
}

// MergePatch returns the JSON merge patch (RFC 7386) that turns the JSON
// object prev into next: what a save event carries as its patch. Members
// that next drops are null in the patch, members it changes are their new
// value (a patch of their own when both sides are objects), equal members
// are left out. Numbers keep their text; two texts of one number (1, 1.0)
// count as a change. Either side that is not a JSON object is Invalid.
func MergePatch(prev, next []byte) ([]byte, error) {
	const op errors.Op = "jsfunc.MergePatch"
	a, err := decodeObject(prev)
	if err != nil {
		return nil, errors.E(op, errors.Invalid, "the stored instance is not a JSON object")
	}
	b, err := decodeObject(next)
	if err != nil {
		return nil, errors.E(op, errors.Invalid, "the new instance is not a JSON object")
	}
	out, err := json.Marshal(diff(a, b))
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	return out, nil
}

// decodeObject decodes a JSON object, keeping numbers' text.
func decodeObject(data []byte) (map[string]any, error) {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("null")
	}
	return v, nil
}

// diff is the merge patch from object a to object b.
func diff(a, b map[string]any) map[string]any {
	patch := map[string]any{}
	for k := range a {
		if _, ok := b[k]; !ok {
			patch[k] = nil
		}
	}
	for k, bv := range b {
		av, ok := a[k]
		if !ok {
			patch[k] = bv
			continue
		}
		ao, aIsObj := av.(map[string]any)
		bo, bIsObj := bv.(map[string]any)
		switch {
		case aIsObj && bIsObj:
			if d := diff(ao, bo); len(d) > 0 {
				patch[k] = d
			}
		case !equal(av, bv):
			patch[k] = bv
		}
	}
	return patch
}

// equal reports whether two decoded JSON values are the same.
func equal(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, av := range a {
			bv, ok := b[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}
