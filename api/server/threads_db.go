package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"

	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/selfhub/hub"
	pb "github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// The ThreadDB methods of threads.pb.API. Each converts the wire request,
// binds the DB service to the caller (a DB of someone else is "not
// found") and calls it.

// threads returns the DB service bound to the caller, and the DB that raw
// names.
func (t *threadsService) threads(ctx context.Context, raw []byte) (hub.Threads, hub.ThreadID, error) {
	id, err := threads.Cast(raw)
	if err != nil {
		return nil, "", err
	}
	return t.s.dbs.Threads(principal(ctx)), id, nil
}

func (t *threadsService) NewDB(ctx context.Context, req *pb.NewDBRequest) (*pb.NewDBReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	opts := hub.DBOptions{Name: req.Name, Key: req.Key}
	for _, c := range req.Collections {
		opts.Collections = append(opts.Collections, collectionFromPB(c))
	}
	_, err = th.NewDB(ctx, id, opts)
	return &pb.NewDBReply{}, err
}

// NewDBFromAddr joins a DB another peer hosts: the history arrives before
// it answers (whether or not the request asks to block), then the
// request's collections that the DB lacks are made. With the thread's
// service key only, hubd becomes the thread's replicator (and pinning
// peer) for the caller's account instead: it keeps and relays the
// records and reads none.
func (t *threadsService) NewDBFromAddr(ctx context.Context, req *pb.NewDBFromAddrRequest) (*pb.NewDBReply, error) {
	const op errors.Op = "server.NewDBFromAddr"
	if t.s.join == nil {
		return nil, errors.E(op, errors.Unimplemented, "this hub does not replicate threads")
	}
	text, err := threads.AddrString(req.Addr)
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "DB address is not a multiaddr: %v", err)
	}
	host, id, err := threads.SplitAddr(text)
	if err == nil && host == nil {
		err = errors.E(errors.Invalid, "it names no peer")
	}
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "DB address %s must be a peer's address followed by /thread/<DB ID>, as GetDBInfo lists them: %v", errors.Clip(text), err)
	}
	raw := req.Key
	if len(raw) == 0 {
		raw = req.ThreadKey
	}
	key, err := threads.KeyFromBytes(raw)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if len(req.LogKey) > 0 {
		return nil, errors.E(op, errors.Invalid, "hubd makes the log key of each identity that writes to a DB it holds; leave logKey empty")
	}
	if !key.CanRead() && len(req.Collections) > 0 {
		return nil, errors.E(op, errors.Invalid, "with the service key only, hubd becomes the thread's replicator and cannot read it; leave collections out")
	}
	if err := t.s.join(ctx, principal(ctx), host, id, key, req.Name); err != nil {
		return nil, err
	}
	if !key.CanRead() {
		return &pb.NewDBReply{}, nil // a replicator: no DB to add collections to
	}
	th := t.s.dbs.Threads(principal(ctx))
	for _, c := range req.Collections {
		cfg := collectionFromPB(c)
		if _, err := th.GetCollectionInfo(ctx, id, cfg.Name); err == nil {
			continue // it came with the history
		}
		if err := th.NewCollection(ctx, id, cfg); err != nil {
			return nil, err
		}
	}
	return &pb.NewDBReply{}, nil
}

func (t *threadsService) ListDBs(ctx context.Context, _ *pb.ListDBsRequest) (*pb.ListDBsReply, error) {
	infos, err := t.s.dbs.Threads(principal(ctx)).ListDBs(ctx)
	if err != nil {
		return nil, err
	}
	out := &pb.ListDBsReply{}
	for _, info := range infos {
		out.Dbs = append(out.Dbs, &pb.ListDBsReply_DB{DbID: info.ID.Bytes(), Info: t.dbInfo(info)})
	}
	return out, nil
}

func (t *threadsService) GetDBInfo(ctx context.Context, req *pb.GetDBInfoRequest) (*pb.GetDBInfoReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	info, err := th.GetDBInfo(ctx, id)
	if err != nil {
		return nil, err
	}
	return t.dbInfo(info), nil
}

// dbInfo describes a DB: its key and the addresses peers reach it at,
// /…/p2p/<hub peer>/thread/<id>, which the server knows and the DB service
// does not.
func (t *threadsService) dbInfo(info hub.DBInfo) *pb.GetDBInfoReply {
	out := &pb.GetDBInfoReply{Key: info.Key, Name: info.Name}
	for _, a := range t.s.hostAddrs() {
		out.Addrs = append(out.Addrs, threadAddr(a, info.ID))
	}
	return out
}

// threadAddr appends /thread/<id> to a host address, in multiaddr's binary
// form: the protocol code, then the length-prefixed ID bytes. It is built
// by hand so that the protocol need not be registered in go-multiaddr's
// process-wide table.
func threadAddr(host ma.Multiaddr, id hub.ThreadID) []byte {
	b := host.Bytes()
	b = binary.AppendUvarint(b, threads.AddrCode)
	b = binary.AppendUvarint(b, uint64(len(id.Bytes())))
	return append(b, id.Bytes()...)
}

func (t *threadsService) DeleteDB(ctx context.Context, req *pb.DeleteDBRequest) (*pb.DeleteDBReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	err = th.DeleteDB(ctx, id)
	if errors.Is(errors.NotExist, err) && t.s.dropReplica != nil {
		// Not a DB of the caller's: perhaps a thread this hub replicates
		// for it, which it can no more read than delete as a DB.
		if derr := t.s.dropReplica(ctx, principal(ctx), id); !errors.Is(errors.NotExist, derr) {
			err = derr
		}
	}
	return &pb.DeleteDBReply{}, err
}

func (t *threadsService) NewCollection(ctx context.Context, req *pb.NewCollectionRequest) (*pb.NewCollectionReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	return &pb.NewCollectionReply{}, th.NewCollection(ctx, id, collectionFromPB(req.Config))
}

func (t *threadsService) UpdateCollection(ctx context.Context, req *pb.UpdateCollectionRequest) (*pb.UpdateCollectionReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	return &pb.UpdateCollectionReply{}, th.UpdateCollection(ctx, id, collectionFromPB(req.Config))
}

func (t *threadsService) DeleteCollection(ctx context.Context, req *pb.DeleteCollectionRequest) (*pb.DeleteCollectionReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	return &pb.DeleteCollectionReply{}, th.DeleteCollection(ctx, id, req.Name)
}

func (t *threadsService) GetCollectionInfo(ctx context.Context, req *pb.GetCollectionInfoRequest) (*pb.GetCollectionInfoReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	c, err := th.GetCollectionInfo(ctx, id, req.Name)
	if err != nil {
		return nil, err
	}
	return collectionToPB(c), nil
}

func (t *threadsService) GetCollectionIndexes(ctx context.Context, req *pb.GetCollectionIndexesRequest) (*pb.GetCollectionIndexesReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	c, err := th.GetCollectionInfo(ctx, id, req.Name)
	if err != nil {
		return nil, err
	}
	return &pb.GetCollectionIndexesReply{Indexes: collectionToPB(c).Indexes}, nil
}

func (t *threadsService) ListCollections(ctx context.Context, req *pb.ListCollectionsRequest) (*pb.ListCollectionsReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	cols, err := th.ListCollections(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &pb.ListCollectionsReply{}
	for _, c := range cols {
		out.Collections = append(out.Collections, collectionToPB(c))
	}
	return out, nil
}

func (t *threadsService) Create(ctx context.Context, req *pb.CreateRequest) (*pb.CreateReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	ids, err := th.Create(ctx, id, req.CollectionName, instances(req.Instances))
	if err != nil {
		return nil, err
	}
	return &pb.CreateReply{InstanceIDs: ids}, nil
}

func (t *threadsService) Save(ctx context.Context, req *pb.SaveRequest) (*pb.SaveReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	if err := th.Save(ctx, id, req.CollectionName, instances(req.Instances)); err != nil {
		return nil, err
	}
	return &pb.SaveReply{}, nil
}

func (t *threadsService) Verify(ctx context.Context, req *pb.VerifyRequest) (*pb.VerifyReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	if err := th.Verify(ctx, id, req.CollectionName, instances(req.Instances)); err != nil {
		return nil, err
	}
	return &pb.VerifyReply{}, nil
}

func (t *threadsService) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	if err := th.Delete(ctx, id, req.CollectionName, req.InstanceIDs); err != nil {
		return nil, err
	}
	return &pb.DeleteReply{}, nil
}

func (t *threadsService) Has(ctx context.Context, req *pb.HasRequest) (*pb.HasReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	ok, err := th.Has(ctx, id, req.CollectionName, req.InstanceIDs)
	if err != nil {
		return nil, err
	}
	return &pb.HasReply{Exists: ok}, nil
}

func (t *threadsService) Find(ctx context.Context, req *pb.FindRequest) (*pb.FindReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	found, err := th.Find(ctx, id, req.CollectionName, req.QueryJSON)
	if err != nil {
		return nil, err
	}
	return &pb.FindReply{Instances: rawBytes(found)}, nil
}

func (t *threadsService) FindByID(ctx context.Context, req *pb.FindByIDRequest) (*pb.FindByIDReply, error) {
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	inst, err := th.FindByID(ctx, id, req.CollectionName, req.InstanceID)
	if err != nil {
		return nil, err
	}
	return &pb.FindByIDReply{Instance: inst}, nil
}

// instances and rawBytes convert between the wire's instances and the
// contract's.
func instances(in [][]byte) []json.RawMessage {
	out := make([]json.RawMessage, len(in))
	for i, b := range in {
		out[i] = b
	}
	return out
}

func rawBytes(in []json.RawMessage) [][]byte {
	out := make([][]byte, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// beginTxn begins the transaction that a transaction stream's first
// message names (DB and collection) with begin.
func beginTxn[T any](t *threadsService, ctx context.Context, start *pb.StartTransactionRequest, begin func(hub.Threads) func(context.Context, hub.ThreadID, string) (T, error)) (T, error) {
	var zero T
	if start == nil {
		return zero, errors.E(errors.Invalid, "a transaction starts with a startTransactionRequest naming the DB and collection")
	}
	th, id, err := t.threads(ctx, start.DbID)
	if err != nil {
		return zero, err
	}
	return begin(th)(ctx, id, start.CollectionName)
}

// txnError is how a failed call inside a transaction is reported: in the
// reply's transactionError, leaving the transaction open, as the clients
// expect.
func txnError(err error) string {
	if err == nil {
		return ""
	}
	return errors.Message(err)
}

// txnStream is a transaction's bidirectional stream, read or write.
type txnStream[Req, Rep any] interface {
	Context() context.Context
	Recv() (Req, error)
	Send(Rep) error
}

// txnHandler says how serveTxn runs one kind of transaction: begin opens
// it, handle answers each message after the first, commit finishes it
// when the client ends the stream (nil for a read transaction, which just
// ends), and release lets it go however the stream ends.
type txnHandler[Req, Rep any, T hub.TxnReader] struct {
	start   func(Req) *pb.StartTransactionRequest
	begin   func(hub.Threads) func(context.Context, hub.ThreadID, string) (T, error)
	handle  func(T, Req) (Rep, error)
	commit  func(T) error
	release func(T)
}

// serveTxn runs a transaction stream: the first message begins the
// transaction, each later one is answered by h.handle, and when the client
// ends the stream h.commit finishes a write transaction.
func serveTxn[Req, Rep any, T hub.TxnReader](t *threadsService, stream txnStream[Req, Rep], h txnHandler[Req, Rep, T]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return errors.E(errors.Canceled, err)
	}
	txn, err := beginTxn(t, ctx, h.start(first), h.begin)
	if err != nil {
		return err
	}
	defer h.release(txn)
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			if h.commit == nil {
				return nil
			}
			// A call ended by a revocation commits nothing, even if the
			// client's end crossed it.
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return h.commit(txn)
		}
		if err != nil {
			return errors.E(errors.Canceled, err)
		}
		reply, err := h.handle(txn, req)
		if err != nil {
			return err
		}
		if err := stream.Send(reply); err != nil {
			return errors.E(errors.Canceled, err)
		}
	}
}

// The replies to reads inside a transaction, shared by both kinds.
func hasReply(txn hub.TxnReader, r *pb.HasRequest) *pb.HasReply {
	ok, err := txn.Has(r.InstanceIDs)
	return &pb.HasReply{Exists: ok, TransactionError: txnError(err)}
}

func findReply(txn hub.TxnReader, r *pb.FindRequest) *pb.FindReply {
	found, err := txn.Find(r.QueryJSON)
	return &pb.FindReply{Instances: rawBytes(found), TransactionError: txnError(err)}
}

func findByIDReply(txn hub.TxnReader, r *pb.FindByIDRequest) *pb.FindByIDReply {
	inst, err := txn.FindByID(r.InstanceID)
	return &pb.FindByIDReply{Instance: inst, TransactionError: txnError(err)}
}

func (t *threadsService) ReadTransaction(stream pb.API_ReadTransactionServer) error {
	return serveTxn(t, stream, txnHandler[*pb.ReadTransactionRequest, *pb.ReadTransactionReply, hub.ReadTxn]{
		start: (*pb.ReadTransactionRequest).GetStartTransactionRequest,
		begin: func(th hub.Threads) func(context.Context, hub.ThreadID, string) (hub.ReadTxn, error) {
			return th.ReadTransaction
		},
		handle: func(txn hub.ReadTxn, req *pb.ReadTransactionRequest) (*pb.ReadTransactionReply, error) {
			switch r := req.Option.(type) {
			case *pb.ReadTransactionRequest_HasRequest:
				return &pb.ReadTransactionReply{Option: &pb.ReadTransactionReply_HasReply{HasReply: hasReply(txn, r.HasRequest)}}, nil
			case *pb.ReadTransactionRequest_FindRequest:
				return &pb.ReadTransactionReply{Option: &pb.ReadTransactionReply_FindReply{FindReply: findReply(txn, r.FindRequest)}}, nil
			case *pb.ReadTransactionRequest_FindByIDRequest:
				return &pb.ReadTransactionReply{Option: &pb.ReadTransactionReply_FindByIDReply{FindByIDReply: findByIDReply(txn, r.FindByIDRequest)}}, nil
			}
			return nil, errors.E(errors.Invalid, "a read transaction takes has, find and findByID requests")
		},
		release: func(txn hub.ReadTxn) { txn.End() },
	})
}

func (t *threadsService) WriteTransaction(stream pb.API_WriteTransactionServer) error {
	// A transaction the client discarded ends quietly; any other is
	// committed when the client ends the stream.
	discarded := false
	return serveTxn(t, stream, txnHandler[*pb.WriteTransactionRequest, *pb.WriteTransactionReply, hub.WriteTxn]{
		start: (*pb.WriteTransactionRequest).GetStartTransactionRequest,
		begin: func(th hub.Threads) func(context.Context, hub.ThreadID, string) (hub.WriteTxn, error) {
			return th.WriteTransaction
		},
		handle: func(txn hub.WriteTxn, req *pb.WriteTransactionRequest) (*pb.WriteTransactionReply, error) {
			reply := &pb.WriteTransactionReply{}
			switch r := req.Option.(type) {
			case *pb.WriteTransactionRequest_CreateRequest:
				ids, err := txn.Create(instances(r.CreateRequest.Instances))
				reply.Option = &pb.WriteTransactionReply_CreateReply{CreateReply: &pb.CreateReply{InstanceIDs: ids, TransactionError: txnError(err)}}
			case *pb.WriteTransactionRequest_SaveRequest:
				err := txn.Save(instances(r.SaveRequest.Instances))
				reply.Option = &pb.WriteTransactionReply_SaveReply{SaveReply: &pb.SaveReply{TransactionError: txnError(err)}}
			case *pb.WriteTransactionRequest_DeleteRequest:
				err := txn.Delete(r.DeleteRequest.InstanceIDs)
				reply.Option = &pb.WriteTransactionReply_DeleteReply{DeleteReply: &pb.DeleteReply{TransactionError: txnError(err)}}
			case *pb.WriteTransactionRequest_VerifyRequest:
				err := txn.Verify(instances(r.VerifyRequest.Instances))
				reply.Option = &pb.WriteTransactionReply_VerifyReply{VerifyReply: &pb.VerifyReply{TransactionError: txnError(err)}}
			case *pb.WriteTransactionRequest_HasRequest:
				reply.Option = &pb.WriteTransactionReply_HasReply{HasReply: hasReply(txn, r.HasRequest)}
			case *pb.WriteTransactionRequest_FindRequest:
				reply.Option = &pb.WriteTransactionReply_FindReply{FindReply: findReply(txn, r.FindRequest)}
			case *pb.WriteTransactionRequest_FindByIDRequest:
				reply.Option = &pb.WriteTransactionReply_FindByIDReply{FindByIDReply: findByIDReply(txn, r.FindByIDRequest)}
			case *pb.WriteTransactionRequest_DiscardRequest:
				txn.Discard()
				discarded = true
				reply.Option = &pb.WriteTransactionReply_DiscardReply{DiscardReply: &pb.DiscardReply{}}
			default:
				return nil, errors.E(errors.Invalid, "a write transaction takes create, save, delete, has, find, findByID, verify and discard requests")
			}
			return reply, nil
		},
		commit: func(txn hub.WriteTxn) error {
			if discarded {
				return nil
			}
			return txn.Commit()
		},
		release: func(txn hub.WriteTxn) { txn.Discard() },
	})
}

func (t *threadsService) Listen(req *pb.ListenRequest, stream pb.API_ListenServer) error {
	ctx := stream.Context()
	th, id, err := t.threads(ctx, req.DbID)
	if err != nil {
		return err
	}
	filters := make([]hub.ListenFilter, len(req.Filters))
	for i, f := range req.Filters {
		// The wire's filter actions are the contract's: ALL=0, CREATE=1,
		// SAVE=2, DELETE=3.
		filters[i] = hub.ListenFilter{Collection: f.CollectionName, InstanceID: f.InstanceID, Action: hub.Action(f.Action)}
	}
	return th.Listen(ctx, id, filters, req.After, func(ev hub.ListenEvent) error {
		var reply []byte
		if ev.Encode != nil {
			reply, err = ev.Encode(t.listenReply)
		} else {
			reply, err = t.listenReply(ev)
		}
		if err != nil {
			return err
		}
		t.s.metrics.listenSent.Inc()
		return stream.SendMsg(encoded(reply))
	})
}

// listenReply is an event's wire form, which the listeners of its DB
// share.
func (t *threadsService) listenReply(ev hub.ListenEvent) ([]byte, error) {
	t.s.metrics.listenEncoded.Inc()
	// The wire's event actions count from CREATE=0.
	return proto.Marshal(&pb.ListenReply{
		CollectionName: ev.Collection, InstanceID: ev.InstanceID, Action: pb.ListenReply_Action(ev.Action - hub.ActionCreate),
		Instance: ev.Instance, Seq: ev.Seq,
	})
}

func collectionFromPB(c *pb.CollectionConfig) hub.CollectionConfig {
	if c == nil {
		return hub.CollectionConfig{}
	}
	out := hub.CollectionConfig{Name: c.Name, Schema: c.Schema, WriteValidator: c.WriteValidator, ReadFilter: c.ReadFilter}
	for _, ix := range c.Indexes {
		out.Indexes = append(out.Indexes, hub.Index{Path: ix.Path, Unique: ix.Unique})
	}
	return out
}

// anySchema is the JSON Schema every instance matches. A collection made
// without a schema (possible from Go and the raw API) is described with
// it, because @textile/threads-client JSON.parses the schema inside a gRPC
// callback, where an empty one throws outside the app's promise.
var anySchema = []byte("{}")

func collectionToPB(c hub.CollectionConfig) *pb.GetCollectionInfoReply {
	schema := c.Schema
	if len(schema) == 0 {
		schema = anySchema
	}
	out := &pb.GetCollectionInfoReply{Name: c.Name, Schema: schema, WriteValidator: c.WriteValidator, ReadFilter: c.ReadFilter}
	for _, ix := range c.Indexes {
		out.Indexes = append(out.Indexes, &pb.Index{Path: ix.Path, Unique: ix.Unique})
	}
	return out
}
