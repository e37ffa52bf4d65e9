package server

import (
	"context"
	"encoding/binary"
	"io"

	ma "github.com/multiformats/go-multiaddr"

	pb "github.com/selfhub/hub/api/pb/threadspb"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
	"github.com/selfhub/hub/threads/db"
)

// The ThreadDB methods of threads.pb.API. Each converts the wire request,
// finds the caller's DB (a DB of someone else is "not found") and calls
// the db package.

// threadProtocolCode is the multiaddr code of /thread/<id>.
const threadProtocolCode = 406

func (t *threadsService) dbFor(ctx context.Context, raw []byte) (*db.DB, error) {
	id, err := threads.Cast(raw)
	if err != nil {
		return nil, err
	}
	return t.s.dbs.DB(ctx, principal(ctx), id)
}

func (t *threadsService) NewDB(ctx context.Context, req *pb.NewDBRequest) (*pb.NewDBReply, error) {
	id, err := threads.Cast(req.DbID)
	if err != nil {
		return nil, err
	}
	var key *threads.Key
	if len(req.Key) > 0 {
		k, err := threads.KeyFromBytes(req.Key)
		if err != nil {
			return nil, err
		}
		key = &k
	}
	cols := make([]db.CollectionConfig, len(req.Collections))
	for i, c := range req.Collections {
		cols[i] = collectionFromPB(c)
	}
	_, err = t.s.dbs.NewDB(ctx, principal(ctx), id, req.Name, key, cols)
	return &pb.NewDBReply{}, err
}

func (t *threadsService) NewDBFromAddr(context.Context, *pb.NewDBFromAddrRequest) (*pb.NewDBReply, error) {
	return nil, errors.E(errors.Unimplemented, "NewDBFromAddr joins a DB hosted by another peer, which needs peer replication; this hub does not replicate threads yet")
}

func (t *threadsService) ListDBs(ctx context.Context, _ *pb.ListDBsRequest) (*pb.ListDBsReply, error) {
	infos, err := t.s.dbs.ListDBs(ctx, principal(ctx))
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
	d, err := t.dbFor(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	return t.dbInfo(d.Info()), nil
}

// dbInfo describes a DB: its key and the addresses peers reach it at,
// /…/p2p/<hub peer>/thread/<id>.
func (t *threadsService) dbInfo(info db.Info) *pb.GetDBInfoReply {
	out := &pb.GetDBInfoReply{Key: info.Key.Bytes(), Name: info.Name}
	for _, a := range t.s.hostAddrs() {
		out.Addrs = append(out.Addrs, threadAddr(a, info.ID))
	}
	return out
}

// threadAddr appends /thread/<id> to a host address, in multiaddr's binary
// form: the protocol code, then the length-prefixed ID bytes. It is built
// by hand so that the protocol need not be registered in go-multiaddr's
// process-wide table.
func threadAddr(host ma.Multiaddr, id threads.ID) []byte {
	b := host.Bytes()
	b = binary.AppendUvarint(b, threadProtocolCode)
	b = binary.AppendUvarint(b, uint64(len(id.Bytes())))
	return append(b, id.Bytes()...)
}

func (t *threadsService) DeleteDB(ctx context.Context, req *pb.DeleteDBRequest) (*pb.DeleteDBReply, error) {
	id, err := threads.Cast(req.DbID)
	if err != nil {
		return nil, err
	}
	return &pb.DeleteDBReply{}, t.s.dbs.DeleteDB(ctx, principal(ctx), id)
}

func (t *threadsService) NewCollection(ctx context.Context, req *pb.NewCollectionRequest) (*pb.NewCollectionReply, error) {
	d, err := t.dbFor(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	return &pb.NewCollectionReply{}, d.NewCollection(ctx, principal(ctx), collectionFromPB(req.Config))
}

func (t *threadsService) UpdateCollection(ctx context.Context, req *pb.UpdateCollectionRequest) (*pb.UpdateCollectionReply, error) {
	d, err := t.dbFor(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	return &pb.UpdateCollectionReply{}, d.UpdateCollection(ctx, principal(ctx), collectionFromPB(req.Config))
}

func (t *threadsService) DeleteCollection(ctx context.Context, req *pb.DeleteCollectionRequest) (*pb.DeleteCollectionReply, error) {
	d, err := t.dbFor(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	return &pb.DeleteCollectionReply{}, d.DeleteCollection(ctx, principal(ctx), req.Name)
}

func (t *threadsService) GetCollectionInfo(ctx context.Context, req *pb.GetCollectionInfoRequest) (*pb.GetCollectionInfoReply, error) {
	d, err := t.dbFor(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	c, err := d.CollectionInfo(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return collectionToPB(c), nil
}

func (t *threadsService) GetCollectionIndexes(ctx context.Context, req *pb.GetCollectionIndexesRequest) (*pb.GetCollectionIndexesReply, error) {
	d, err := t.dbFor(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	c, err := d.CollectionInfo(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return &pb.GetCollectionIndexesReply{Indexes: collectionToPB(c).Indexes}, nil
}

func (t *threadsService) ListCollections(ctx context.Context, req *pb.ListCollectionsRequest) (*pb.ListCollectionsReply, error) {
	d, err := t.dbFor(ctx, req.DbID)
	if err != nil {
		return nil, err
	}
	out := &pb.ListCollectionsReply{}
	for _, c := range d.Collections(ctx) {
		out.Collections = append(out.Collections, collectionToPB(c))
	}
	return out, nil
}

// oneShot runs fn in a transaction of its own: a read transaction, or a
// write transaction committed when fn succeeds.
func (t *threadsService) oneShot(ctx context.Context, dbID []byte, col string, write bool, fn func(*db.Txn) error) error {
	d, err := t.dbFor(ctx, dbID)
	if err != nil {
		return err
	}
	begin := d.ReadTxn
	if write {
		begin = d.WriteTxn
	}
	txn, err := begin(ctx, principal(ctx), col)
	if err != nil {
		return err
	}
	defer txn.Discard()
	if err := fn(txn); err != nil {
		return err
	}
	if write {
		return txn.Commit(ctx)
	}
	return nil
}

func (t *threadsService) Create(ctx context.Context, req *pb.CreateRequest) (*pb.CreateReply, error) {
	var ids []string
	err := t.oneShot(ctx, req.DbID, req.CollectionName, true, func(txn *db.Txn) (err error) {
		ids, err = txn.Create(ctx, req.Instances)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.CreateReply{InstanceIDs: ids}, nil
}

func (t *threadsService) Save(ctx context.Context, req *pb.SaveRequest) (*pb.SaveReply, error) {
	err := t.oneShot(ctx, req.DbID, req.CollectionName, true, func(txn *db.Txn) error { return txn.Save(ctx, req.Instances) })
	if err != nil {
		return nil, err
	}
	return &pb.SaveReply{}, nil
}

func (t *threadsService) Verify(ctx context.Context, req *pb.VerifyRequest) (*pb.VerifyReply, error) {
	err := t.oneShot(ctx, req.DbID, req.CollectionName, false, func(txn *db.Txn) error { return txn.Verify(ctx, req.Instances) })
	if err != nil {
		return nil, err
	}
	return &pb.VerifyReply{}, nil
}

func (t *threadsService) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteReply, error) {
	err := t.oneShot(ctx, req.DbID, req.CollectionName, true, func(txn *db.Txn) error { return txn.Delete(ctx, req.InstanceIDs) })
	if err != nil {
		return nil, err
	}
	return &pb.DeleteReply{}, nil
}

func (t *threadsService) Has(ctx context.Context, req *pb.HasRequest) (*pb.HasReply, error) {
	var ok bool
	err := t.oneShot(ctx, req.DbID, req.CollectionName, false, func(txn *db.Txn) (err error) {
		ok, err = txn.Has(ctx, req.InstanceIDs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.HasReply{Exists: ok}, nil
}

func (t *threadsService) Find(ctx context.Context, req *pb.FindRequest) (*pb.FindReply, error) {
	var found [][]byte
	err := t.oneShot(ctx, req.DbID, req.CollectionName, false, func(txn *db.Txn) (err error) {
		found, err = find(ctx, txn, req.QueryJSON)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.FindReply{Instances: found}, nil
}

func (t *threadsService) FindByID(ctx context.Context, req *pb.FindByIDRequest) (*pb.FindByIDReply, error) {
	var inst []byte
	err := t.oneShot(ctx, req.DbID, req.CollectionName, false, func(txn *db.Txn) (err error) {
		inst, err = txn.FindByID(ctx, req.InstanceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.FindByIDReply{Instance: inst}, nil
}

func find(ctx context.Context, txn *db.Txn, q []byte) ([][]byte, error) {
	found, err := txn.Find(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(found))
	for i, f := range found {
		out[i] = f
	}
	return out, nil
}

// beginTxn reads a transaction stream's first message, which names the DB
// and collection, and begins the transaction.
func (t *threadsService) beginTxn(ctx context.Context, start *pb.StartTransactionRequest, write bool) (*db.Txn, error) {
	if start == nil {
		return nil, errors.E(errors.Invalid, "a transaction starts with a startTransactionRequest naming the DB and collection")
	}
	d, err := t.dbFor(ctx, start.DbID)
	if err != nil {
		return nil, err
	}
	if write {
		return d.WriteTxn(ctx, principal(ctx), start.CollectionName)
	}
	return d.ReadTxn(ctx, principal(ctx), start.CollectionName)
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

// serveTxn runs a transaction stream: the first message begins the
// transaction (a write one when end is set), each later one is answered by
// handle, and when the client ends the stream, end finishes a write
// transaction (a read one just ends).
func serveTxn[Req, Rep any](t *threadsService, stream txnStream[Req, Rep], start func(Req) *pb.StartTransactionRequest, handle func(context.Context, *db.Txn, Req) (Rep, error), end func(context.Context, *db.Txn) error) error {
	write := end != nil
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return errors.E(errors.Canceled, err)
	}
	txn, err := t.beginTxn(ctx, start(first), write)
	if err != nil {
		return err
	}
	defer txn.Discard()
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			if !write {
				return nil
			}
			// A call ended by a revocation commits nothing, even if the
			// client's end crossed it.
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return end(ctx, txn)
		}
		if err != nil {
			return errors.E(errors.Canceled, err)
		}
		reply, err := handle(ctx, txn, req)
		if err != nil {
			return err
		}
		if err := stream.Send(reply); err != nil {
			return errors.E(errors.Canceled, err)
		}
	}
}

// The replies to reads inside a transaction, shared by both kinds.
func hasReply(ctx context.Context, txn *db.Txn, r *pb.HasRequest) *pb.HasReply {
	ok, err := txn.Has(ctx, r.InstanceIDs)
	return &pb.HasReply{Exists: ok, TransactionError: txnError(err)}
}

func findReply(ctx context.Context, txn *db.Txn, r *pb.FindRequest) *pb.FindReply {
	found, err := find(ctx, txn, r.QueryJSON)
	return &pb.FindReply{Instances: found, TransactionError: txnError(err)}
}

func findByIDReply(ctx context.Context, txn *db.Txn, r *pb.FindByIDRequest) *pb.FindByIDReply {
	inst, err := txn.FindByID(ctx, r.InstanceID)
	return &pb.FindByIDReply{Instance: inst, TransactionError: txnError(err)}
}

func (t *threadsService) ReadTransaction(stream pb.API_ReadTransactionServer) error {
	return serveTxn(t, stream, (*pb.ReadTransactionRequest).GetStartTransactionRequest,
		func(ctx context.Context, txn *db.Txn, req *pb.ReadTransactionRequest) (*pb.ReadTransactionReply, error) {
			switch r := req.Option.(type) {
			case *pb.ReadTransactionRequest_HasRequest:
				return &pb.ReadTransactionReply{Option: &pb.ReadTransactionReply_HasReply{HasReply: hasReply(ctx, txn, r.HasRequest)}}, nil
			case *pb.ReadTransactionRequest_FindRequest:
				return &pb.ReadTransactionReply{Option: &pb.ReadTransactionReply_FindReply{FindReply: findReply(ctx, txn, r.FindRequest)}}, nil
			case *pb.ReadTransactionRequest_FindByIDRequest:
				return &pb.ReadTransactionReply{Option: &pb.ReadTransactionReply_FindByIDReply{FindByIDReply: findByIDReply(ctx, txn, r.FindByIDRequest)}}, nil
			}
			return nil, errors.E(errors.Invalid, "a read transaction takes has, find and findByID requests")
		}, nil)
}

func (t *threadsService) WriteTransaction(stream pb.API_WriteTransactionServer) error {
	// A transaction the client discarded ends quietly; any other is
	// committed when the client ends the stream.
	discarded := false
	return serveTxn(t, stream, (*pb.WriteTransactionRequest).GetStartTransactionRequest,
		func(ctx context.Context, txn *db.Txn, req *pb.WriteTransactionRequest) (*pb.WriteTransactionReply, error) {
			reply := &pb.WriteTransactionReply{}
			switch r := req.Option.(type) {
			case *pb.WriteTransactionRequest_CreateRequest:
				ids, err := txn.Create(ctx, r.CreateRequest.Instances)
				reply.Option = &pb.WriteTransactionReply_CreateReply{CreateReply: &pb.CreateReply{InstanceIDs: ids, TransactionError: txnError(err)}}
			case *pb.WriteTransactionRequest_SaveRequest:
				err := txn.Save(ctx, r.SaveRequest.Instances)
				reply.Option = &pb.WriteTransactionReply_SaveReply{SaveReply: &pb.SaveReply{TransactionError: txnError(err)}}
			case *pb.WriteTransactionRequest_DeleteRequest:
				err := txn.Delete(ctx, r.DeleteRequest.InstanceIDs)
				reply.Option = &pb.WriteTransactionReply_DeleteReply{DeleteReply: &pb.DeleteReply{TransactionError: txnError(err)}}
			case *pb.WriteTransactionRequest_VerifyRequest:
				err := txn.Verify(ctx, r.VerifyRequest.Instances)
				reply.Option = &pb.WriteTransactionReply_VerifyReply{VerifyReply: &pb.VerifyReply{TransactionError: txnError(err)}}
			case *pb.WriteTransactionRequest_HasRequest:
				reply.Option = &pb.WriteTransactionReply_HasReply{HasReply: hasReply(ctx, txn, r.HasRequest)}
			case *pb.WriteTransactionRequest_FindRequest:
				reply.Option = &pb.WriteTransactionReply_FindReply{FindReply: findReply(ctx, txn, r.FindRequest)}
			case *pb.WriteTransactionRequest_FindByIDRequest:
				reply.Option = &pb.WriteTransactionReply_FindByIDReply{FindByIDReply: findByIDReply(ctx, txn, r.FindByIDRequest)}
			case *pb.WriteTransactionRequest_DiscardRequest:
				txn.Discard()
				discarded = true
				reply.Option = &pb.WriteTransactionReply_DiscardReply{DiscardReply: &pb.DiscardReply{}}
			default:
				return nil, errors.E(errors.Invalid, "a write transaction takes create, save, delete, has, find, findByID, verify and discard requests")
			}
			return reply, nil
		},
		func(ctx context.Context, txn *db.Txn) error {
			if discarded {
				return nil
			}
			return txn.Commit(ctx)
		})
}

func (t *threadsService) Listen(req *pb.ListenRequest, stream pb.API_ListenServer) error {
	ctx := stream.Context()
	d, err := t.dbFor(ctx, req.DbID)
	if err != nil {
		return err
	}
	var filters []db.ListenFilter
	for _, f := range req.Filters {
		lf := db.ListenFilter{Collection: f.CollectionName, ID: f.InstanceID}
		if f.Action != pb.ListenRequest_Filter_ALL {
			// The filter's actions count from 1; events' from 0.
			lf.Actions = []db.Action{db.Action(f.Action - 1)}
		}
		filters = append(filters, lf)
	}
	since := db.FromNow
	if req.After > 0 {
		since = req.After
	}
	return d.Listen(ctx, principal(ctx), since, filters, func(ev db.Event) error {
		return stream.Send(&pb.ListenReply{
			CollectionName: ev.Collection, InstanceID: ev.ID, Action: pb.ListenReply_Action(ev.Action),
			Instance: ev.Instance, Seq: ev.Seq,
		})
	})
}

func collectionFromPB(c *pb.CollectionConfig) db.CollectionConfig {
	if c == nil {
		return db.CollectionConfig{}
	}
	out := db.CollectionConfig{Name: c.Name, Schema: c.Schema, WriteValidator: c.WriteValidator, ReadFilter: c.ReadFilter}
	for _, ix := range c.Indexes {
		out.Indexes = append(out.Indexes, db.Index{Path: ix.Path, Unique: ix.Unique})
	}
	return out
}

func collectionToPB(c db.CollectionConfig) *pb.GetCollectionInfoReply {
	out := &pb.GetCollectionInfoReply{Name: c.Name, Schema: c.Schema, WriteValidator: c.WriteValidator, ReadFilter: c.ReadFilter}
	for _, ix := range c.Indexes {
		out.Indexes = append(out.Indexes, &pb.Index{Path: ix.Path, Unique: ix.Unique})
	}
	return out
}
