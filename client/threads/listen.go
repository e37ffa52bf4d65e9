package threadsclient

import (
	"context"
	"encoding/json"
	"io"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
)

// Action is what a change did to an instance; ListenFilter selects
// changes and ListenEvent is one of them: the contract's types (see
// hub.Action).
type (
	Action       = hub.Action
	ListenFilter = hub.ListenFilter
	ListenEvent  = hub.ListenEvent
)

// The actions.
const (
	ActionAll    = hub.ActionAll
	ActionCreate = hub.ActionCreate
	ActionSave   = hub.ActionSave
	ActionDelete = hub.ActionDelete
)

// Listen calls fn, in order, for each change to the DB that matches any of
// filters (every change when there are none), and returns when ctx ends
// (with a Canceled or DeadlineExceeded error), when fn returns an error
// (that error), or when the server ends the stream (its error, or nil).
//
// With after 0, Listen delivers the changes made once the server has
// started the stream (a change made while the call is on its way may come
// before that, and is not delivered); otherwise it delivers every change
// after the one whose Seq is after, so a listener that stops can resume
// without missing one. The server keeps a
// bounded history: a position older than that is FailedPrecondition.
//
// The server delivers at the listener's pace and never drops a change: a
// slow fn makes the listener fall behind, not lose events.
func (c *Client) Listen(ctx context.Context, db ID, filters []ListenFilter, after uint64, fn func(ListenEvent) error) error {
	const op errors.Op = "threadsclient.Listen"
	req := &threadspb.ListenRequest{DbID: db.Bytes(), After: after}
	for _, f := range filters {
		if f.Action < ActionAll || f.Action > ActionDelete {
			return errors.Errorf(op, errors.Invalid, "filter action %d; use ActionAll, ActionCreate, ActionSave or ActionDelete", int(f.Action))
		}
		req.Filters = append(req.Filters, &threadspb.ListenRequest_Filter{
			CollectionName: f.Collection,
			InstanceID:     f.InstanceID,
			// The wire's filter actions are ALL=0, CREATE=1, SAVE=2,
			// DELETE=3, the same numbers as Action.
			Action: threadspb.ListenRequest_Filter_Action(f.Action),
		})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := c.c.Listen(ctx, req)
	if err != nil {
		return rpcerr.FromStatus(op, err)
	}
	for {
		r, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if ctx.Err() == context.DeadlineExceeded {
				return errors.E(op, errors.DeadlineExceeded, ctx.Err())
			}
			if ctx.Err() != nil {
				return errors.E(op, errors.Canceled, ctx.Err())
			}
			return rpcerr.FromStatus(op, err)
		}
		ev := ListenEvent{
			Seq:        r.GetSeq(),
			Collection: r.GetCollectionName(),
			InstanceID: r.GetInstanceID(),
			// The wire's event actions are CREATE=0, SAVE=1, DELETE=2.
			Action: Action(r.GetAction()) + 1,
		}
		if len(r.GetInstance()) > 0 {
			ev.Instance = json.RawMessage(r.GetInstance())
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}
