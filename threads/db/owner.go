package db

import (
	"bytes"
	"context"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// Owner returns the principal that owns DB id, whoever asks. It is for
// trusted server-side readers that act on the owner's behalf (the HTTP
// gateway reads a bucket's root this way); callers do their own access
// checks. NotExist if there is no such DB.
func (m *Manager) Owner(ctx context.Context, id threads.ID) (hub.Principal, error) {
	const op errors.Op = "db.Owner"
	d, err := m.open(id)
	if err != nil {
		return hub.Principal{}, errors.E(op, err)
	}
	return d.principal(), nil
}

// EachDB calls fn with the ID of every DB this hub holds, until fn returns
// an error, which EachDB returns. Like Owner, it is for trusted
// server-side readers.
func (m *Manager) EachDB(ctx context.Context, fn func(threads.ID) error) error {
	const op errors.Op = "db.EachDB"
	prefix := ownerPrefix("")
	prefix = prefix[:len(prefix)-1] // "dbown/": every scope
	err := m.st.Scan(prefix, func(k, _ []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		i := bytes.LastIndexByte(k, '/')
		id, err := threads.Decode(string(k[i+1:]))
		if err != nil {
			return err
		}
		return fn(id)
	})
	if err != nil {
		return errors.E(op, err)
	}
	return nil
}
