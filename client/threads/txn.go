package threadsclient

import (
	"context"
	"encoding/json"
	"io"
	"sync"

	"google.golang.org/grpc"

	"github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/rpcerr"
	"github.com/selfhub/hub/threads/db/query"
)

// The wire's transactions are bidirectional streams on one collection: the
// client sends a startTransactionRequest naming the DB and collection,
// then one request at a time, each answered by one reply in order; closing
// its side of the stream ends the transaction, and for a write transaction
// commits it. The server gives the start request no reply, so a refused
// start (an unknown DB or collection) shows as the first call's error, or
// End's.
//
// A read transaction sees a snapshot of the collection taken when it
// starts. A write transaction holds the DB's write lock until it ends (at
// most the hub's transaction time limit) and sees the committed state plus
// its own writes, which it commits all together at End, or not at all.

// ReadTxn is a read transaction. Its calls run under the context given to
// ReadTransaction and may be made from several goroutines; they are sent
// one at a time. End it with End.
type ReadTxn struct {
	s stream[threadspb.ReadTransactionRequest, threadspb.ReadTransactionReply]
}

// WriteTxn is a write transaction. Its calls run under the context given
// to WriteTransaction and may be made from several goroutines; they are
// sent one at a time. End it with End, which commits, or Discard.
type WriteTxn struct {
	s stream[threadspb.WriteTransactionRequest, threadspb.WriteTransactionReply]
}

// ReadTransaction starts a read transaction on a collection.
func (c *Client) ReadTransaction(ctx context.Context, db ID, collection string) (*ReadTxn, error) {
	const op errors.Op = "threadsclient.ReadTransaction"
	ctx, cancel := context.WithCancel(ctx)
	s, err := c.c.ReadTransaction(ctx)
	if err != nil {
		cancel()
		return nil, rpcerr.FromStatus(op, err)
	}
	t := &ReadTxn{s: stream[threadspb.ReadTransactionRequest, threadspb.ReadTransactionReply]{s: s, cancel: cancel}}
	start := &threadspb.StartTransactionRequest{DbID: db.Bytes(), CollectionName: collection}
	if err := t.s.start(op, &threadspb.ReadTransactionRequest{Option: &threadspb.ReadTransactionRequest_StartTransactionRequest{StartTransactionRequest: start}}); err != nil {
		return nil, err
	}
	return t, nil
}

// WriteTransaction starts a write transaction on a collection. It holds
// the DB's write lock until End or Discard: other writes to the DB wait
// for it.
func (c *Client) WriteTransaction(ctx context.Context, db ID, collection string) (*WriteTxn, error) {
	const op errors.Op = "threadsclient.WriteTransaction"
	ctx, cancel := context.WithCancel(ctx)
	s, err := c.c.WriteTransaction(ctx)
	if err != nil {
		cancel()
		return nil, rpcerr.FromStatus(op, err)
	}
	t := &WriteTxn{s: stream[threadspb.WriteTransactionRequest, threadspb.WriteTransactionReply]{s: s, cancel: cancel}}
	start := &threadspb.StartTransactionRequest{DbID: db.Bytes(), CollectionName: collection}
	if err := t.s.start(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_StartTransactionRequest{StartTransactionRequest: start}}); err != nil {
		return nil, err
	}
	return t, nil
}

// Has reports whether every one of ids exists in the transaction's
// snapshot.
func (t *ReadTxn) Has(ids ...string) (bool, error) {
	const op errors.Op = "threadsclient.ReadTxn.Has"
	r, err := t.s.call(op, &threadspb.ReadTransactionRequest{Option: &threadspb.ReadTransactionRequest_HasRequest{HasRequest: &threadspb.HasRequest{InstanceIDs: ids}}})
	if err != nil {
		return false, err
	}
	return hasResult(op, r.GetHasReply())
}

// Find returns the instances of the snapshot that match q (nil matches
// all).
func (t *ReadTxn) Find(q *query.Query) ([]json.RawMessage, error) {
	const op errors.Op = "threadsclient.ReadTxn.Find"
	b, err := marshalQuery(op, q)
	if err != nil {
		return nil, err
	}
	return t.find(op, b)
}

// FindJSON is Find with the query in its wire form.
func (t *ReadTxn) FindJSON(queryJSON []byte) ([]json.RawMessage, error) {
	const op errors.Op = "threadsclient.ReadTxn.FindJSON"
	return t.find(op, queryJSON)
}

func (t *ReadTxn) find(op errors.Op, q []byte) ([]json.RawMessage, error) {
	r, err := t.s.call(op, &threadspb.ReadTransactionRequest{Option: &threadspb.ReadTransactionRequest_FindRequest{FindRequest: &threadspb.FindRequest{QueryJSON: q}}})
	if err != nil {
		return nil, err
	}
	return findResult(op, r.GetFindReply())
}

// FindByID returns one instance of the snapshot.
func (t *ReadTxn) FindByID(id string) (json.RawMessage, error) {
	const op errors.Op = "threadsclient.ReadTxn.FindByID"
	r, err := t.s.call(op, &threadspb.ReadTransactionRequest{Option: &threadspb.ReadTransactionRequest_FindByIDRequest{FindByIDRequest: &threadspb.FindByIDRequest{InstanceID: id}}})
	if err != nil {
		return nil, err
	}
	return findByIDResult(op, r.GetFindByIDReply())
}

// End ends the transaction and reports how the server ended it: a refused
// start (unknown DB or collection) shows here if no call showed it.
func (t *ReadTxn) End() error {
	const op errors.Op = "threadsclient.ReadTxn.End"
	return t.s.end(op)
}

// Create adds instances and returns their _ids. They become visible to
// others when End commits.
func (t *WriteTxn) Create(instances ...json.RawMessage) ([]string, error) {
	const op errors.Op = "threadsclient.WriteTxn.Create"
	r, err := t.s.call(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_CreateRequest{CreateRequest: &threadspb.CreateRequest{Instances: rawList(instances)}}})
	if err != nil {
		return nil, err
	}
	cr := r.GetCreateReply()
	if cr == nil {
		return nil, unexpected(op, r.GetOption())
	}
	if err := txnError(op, cr.GetTransactionError()); err != nil {
		return nil, err
	}
	return cr.GetInstanceIDs(), nil
}

// Save replaces existing instances.
func (t *WriteTxn) Save(instances ...json.RawMessage) error {
	const op errors.Op = "threadsclient.WriteTxn.Save"
	r, err := t.s.call(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_SaveRequest{SaveRequest: &threadspb.SaveRequest{Instances: rawList(instances)}}})
	if err != nil {
		return err
	}
	if r.GetSaveReply() == nil {
		return unexpected(op, r.GetOption())
	}
	return txnError(op, r.GetSaveReply().GetTransactionError())
}

// Delete removes instances by _id.
func (t *WriteTxn) Delete(ids ...string) error {
	const op errors.Op = "threadsclient.WriteTxn.Delete"
	r, err := t.s.call(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_DeleteRequest{DeleteRequest: &threadspb.DeleteRequest{InstanceIDs: ids}}})
	if err != nil {
		return err
	}
	if r.GetDeleteReply() == nil {
		return unexpected(op, r.GetOption())
	}
	return txnError(op, r.GetDeleteReply().GetTransactionError())
}

// Verify checks instances as Save would, without writing them.
func (t *WriteTxn) Verify(instances ...json.RawMessage) error {
	const op errors.Op = "threadsclient.WriteTxn.Verify"
	r, err := t.s.call(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_VerifyRequest{VerifyRequest: &threadspb.VerifyRequest{Instances: rawList(instances)}}})
	if err != nil {
		return err
	}
	if r.GetVerifyReply() == nil {
		return unexpected(op, r.GetOption())
	}
	return txnError(op, r.GetVerifyReply().GetTransactionError())
}

// Has reports whether every one of ids exists, counting the transaction's
// own writes.
func (t *WriteTxn) Has(ids ...string) (bool, error) {
	const op errors.Op = "threadsclient.WriteTxn.Has"
	r, err := t.s.call(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_HasRequest{HasRequest: &threadspb.HasRequest{InstanceIDs: ids}}})
	if err != nil {
		return false, err
	}
	return hasResult(op, r.GetHasReply())
}

// Find returns the instances that match q (nil matches all), counting the
// transaction's own writes.
func (t *WriteTxn) Find(q *query.Query) ([]json.RawMessage, error) {
	const op errors.Op = "threadsclient.WriteTxn.Find"
	b, err := marshalQuery(op, q)
	if err != nil {
		return nil, err
	}
	return t.find(op, b)
}

// FindJSON is Find with the query in its wire form.
func (t *WriteTxn) FindJSON(queryJSON []byte) ([]json.RawMessage, error) {
	const op errors.Op = "threadsclient.WriteTxn.FindJSON"
	return t.find(op, queryJSON)
}

func (t *WriteTxn) find(op errors.Op, q []byte) ([]json.RawMessage, error) {
	r, err := t.s.call(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_FindRequest{FindRequest: &threadspb.FindRequest{QueryJSON: q}}})
	if err != nil {
		return nil, err
	}
	return findResult(op, r.GetFindReply())
}

// FindByID returns one instance, counting the transaction's own writes.
func (t *WriteTxn) FindByID(id string) (json.RawMessage, error) {
	const op errors.Op = "threadsclient.WriteTxn.FindByID"
	r, err := t.s.call(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_FindByIDRequest{FindByIDRequest: &threadspb.FindByIDRequest{InstanceID: id}}})
	if err != nil {
		return nil, err
	}
	return findByIDResult(op, r.GetFindByIDReply())
}

// Discard ends the transaction without writing anything. The server drops
// the transaction's writes and releases the DB when it gets the discard
// request; the client then abandons the stream rather than closing it,
// because closing it is how the wire asks for a commit. On a transaction
// that has already ended it does nothing, so it can be deferred.
func (t *WriteTxn) Discard() error {
	const op errors.Op = "threadsclient.WriteTxn.Discard"
	if t.s.ended() {
		return nil
	}
	r, err := t.s.call(op, &threadspb.WriteTransactionRequest{Option: &threadspb.WriteTransactionRequest_DiscardRequest{DiscardRequest: &threadspb.DiscardRequest{}}})
	t.s.abandon()
	if err != nil {
		return err
	}
	if r.GetDiscardReply() == nil {
		return unexpected(op, r.GetOption())
	}
	return nil
}

// End commits the transaction's writes, all of them or none, and returns
// the server's verdict: a refused commit, or a refused start that no call
// showed.
func (t *WriteTxn) End() error {
	const op errors.Op = "threadsclient.WriteTxn.End"
	return t.s.end(op)
}

func hasResult(op errors.Op, r *threadspb.HasReply) (bool, error) {
	if r == nil {
		return false, errors.E(op, errors.Internal, "server answered a has request with another kind of reply")
	}
	if err := txnError(op, r.GetTransactionError()); err != nil {
		return false, err
	}
	return r.GetExists(), nil
}

func findResult(op errors.Op, r *threadspb.FindReply) ([]json.RawMessage, error) {
	if r == nil {
		return nil, errors.E(op, errors.Internal, "server answered a find request with another kind of reply")
	}
	if err := txnError(op, r.GetTransactionError()); err != nil {
		return nil, err
	}
	return instanceList(r.GetInstances()), nil
}

func findByIDResult(op errors.Op, r *threadspb.FindByIDReply) (json.RawMessage, error) {
	if r == nil {
		return nil, errors.E(op, errors.Internal, "server answered a findByID request with another kind of reply")
	}
	if err := txnError(op, r.GetTransactionError()); err != nil {
		return nil, err
	}
	return json.RawMessage(r.GetInstance()), nil
}

func unexpected(op errors.Op, got any) error {
	return errors.Errorf(op, errors.Internal, "server answered with a reply of type %T", got)
}

// stream is one transaction's stream: requests go out one at a time, each
// followed by its reply.
type stream[Req, Rep any] struct {
	s      grpc.BidiStreamingClient[Req, Rep]
	cancel context.CancelFunc // ends the stream's context

	mu   sync.Mutex // serialises request-reply exchanges; guards done
	done bool       // the transaction has ended, or its stream failed
}

// start sends the start request, which gets no reply.
func (t *stream[Req, Rep]) start(op errors.Op, req *Req) error {
	if err := t.s.Send(req); err != nil {
		err = t.sendError(op, err)
		t.cancel()
		return err
	}
	return nil
}

// call sends req and returns its reply. A failed stream ends the
// transaction.
func (t *stream[Req, Rep]) call(op errors.Op, req *Req) (*Rep, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil, errors.E(op, errors.FailedPrecondition, "the transaction has ended; start a new one")
	}
	if err := t.s.Send(req); err != nil {
		err = t.sendError(op, err) // before finish, which cancels the stream
		t.finish()
		return nil, err
	}
	r, err := t.s.Recv()
	if err == io.EOF {
		t.finish()
		return nil, errors.E(op, errors.Unavailable, "server ended the transaction without answering")
	}
	if err != nil {
		t.finish()
		return nil, rpcerr.FromStatus(op, err)
	}
	return r, nil
}

// end closes the client's side of the stream, which ends the transaction
// (committing a write transaction), and waits for the server's status.
func (t *stream[Req, Rep]) end(op errors.Op) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return errors.E(op, errors.FailedPrecondition, "the transaction has already ended")
	}
	defer t.finish()
	if err := t.s.CloseSend(); err != nil {
		return rpcerr.FromStatus(op, err)
	}
	for {
		_, err := t.s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return rpcerr.FromStatus(op, err)
		}
		// A reply nobody asked for: read on to the status.
	}
}

// ended reports whether the transaction has ended.
func (t *stream[Req, Rep]) ended() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}

// abandon ends the transaction without closing the stream gracefully.
func (t *stream[Req, Rep]) abandon() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.finish()
}

// finish marks the transaction ended and releases its stream; t.mu is
// held.
func (t *stream[Req, Rep]) finish() {
	t.done = true
	t.cancel()
}

// sendError explains a failed Send. When the server has already ended
// the stream, Send reports only io.EOF; the status it ended with comes
// from Recv.
func (t *stream[Req, Rep]) sendError(op errors.Op, err error) error {
	if err != io.EOF {
		return rpcerr.FromStatus(op, err)
	}
	if _, err := t.s.Recv(); err != nil && err != io.EOF {
		return rpcerr.FromStatus(op, err)
	}
	return errors.E(op, errors.Unavailable, "server ended the transaction stream")
}
