package buckets

import (
	"context"
	stderrors "errors"
	"io"

	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	car "github.com/ipld/go-car/v2"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// MaxCARHeaderSize is the largest CAR header (the list of roots) ImportCAR
// reads; a header holds a few CIDs, so anything bigger is not a real CAR.
const MaxCARHeaderSize = 1 << 20

// MaxCARBlockSize is the largest block ImportCAR accepts. UnixFS blocks
// are at most a chunk (1 MiB) plus framing, and IPFS peers refuse blocks
// over 2 MiB, so larger ones could not be shared anyway.
const MaxCARBlockSize = 2 << 20

// CARImport is what ImportCAR stored.
type CARImport struct {
	Cid    cid.Cid // the DAG linked at the path: the CAR's root, as it is
	Blocks int64   // blocks the CAR held
	Bucket Bucket  // the bucket at its new root
}

// ImportCAR reads a CAR (v1 or v2) from r, block by block, and links the
// UnixFS DAG it carries at path in the bucket. carRoot names the DAG
// among the CAR's roots; cid.Undef means the CAR's only root. root is the
// bucket root the caller last saw, fast-forward only as in PushPath
// (empty forces); an empty path replaces the bucket's root, which then
// must be a directory.
//
// Each block's hash is checked against its CID as it arrives, and blocks
// are stored in synced batches, so memory holds one batch whatever the
// size of the CAR (plus the CIDs of its raw leaves, for the completeness
// check). The DAG must be complete, from the CAR or blocks this hub
// already holds, before the bucket moves: a CAR that fails any check
// leaves the bucket as it was. The bucket links the CAR's root as it is,
// as kubo does, also where the CAR's link sizes differ from the true ones
// (link sizes are advisory in UnixFS; some tools write others, or 0): the
// quota and usage count the bytes its blocks really hold (truesize.go).
// Blocks stored from a refused CAR stay unreferenced until garbage
// collection.
func (s *Service) ImportCAR(ctx context.Context, p hub.Principal, thread threads.ID, key, path, root string, carRoot cid.Cid, r io.Reader) (CARImport, error) {
	const op errors.Op = "buckets.ImportCAR"
	segs, err := CleanPath(path)
	if err != nil {
		return CARImport{}, errors.E(op, err)
	}
	// Fail fast, before reading what may be gigabytes.
	_, b, err := s.open(ctx, op, p, thread, key, segs, RoleWriter)
	if err != nil {
		return CARImport{}, err
	}
	if b.IsPrivate() {
		return CARImport{}, errors.E(op, errors.Unimplemented, "CAR import is not offered for private buckets, whose contents the hub encrypts; push the files with hub buck push or PushPaths")
	}
	if err := checkRoot(op, b, root); err != nil {
		return CARImport{}, err
	}
	// The blocks are stored before the root links them: keep the
	// collector from sweeping them in between.
	ctx, release := s.blocks.Hold(ctx)
	defer release()
	// The quota stops a CAR too big for it while it streams; the bucket's
	// growth is checked again, exactly, when the root moves.
	qr, err := s.meter(ctx, op, b.rec.Account, r)
	if err != nil {
		return CARImport{}, err
	}
	br, err := car.NewBlockReader(qr, car.WithTrustedCAR(true), // hashes are checked below, for a clearer message
		car.MaxAllowedHeaderSize(MaxCARHeaderSize), car.MaxAllowedSectionSize(MaxCARBlockSize))
	if errors.KindOf(err) != errors.Other {
		return CARImport{}, errors.E(op, err) // the reader's own verdict, such as the quota
	}
	if err != nil {
		return CARImport{}, errors.Errorf(op, readErrKind(ctx), "not a readable CAR v1 or v2 (%v); export one with ipfs dag export or the gateway's ?format=car", err)
	}
	top, err := pickRoot(br.Roots, carRoot)
	if err != nil {
		return CARImport{}, errors.E(op, err)
	}
	n, leaves, err := s.storeCAR(ctx, br)
	if err != nil {
		return CARImport{}, errors.E(op, err)
	}
	nd, err := s.checkComplete(ctx, top, leaves)
	if err != nil {
		return CARImport{}, errors.E(op, err)
	}
	if len(segs) == 0 && !isDir(nd) {
		return CARImport{}, errors.Errorf(op, errors.Invalid, "the CAR's root %s is a file; import it at a path, or import a directory to replace the bucket's root", top)
	}
	b, err = s.update(ctx, op, p, thread, key, root, RoleWriter, [][]string{segs}, func(cur ipld.Node) (ipld.Node, error) {
		if len(segs) == 0 {
			return nd, nil
		}
		return put(ctx, s.dag, s.sizes, cur, segs, nd)
	})
	if err != nil {
		return CARImport{}, err
	}
	return CARImport{Cid: nd.Cid(), Blocks: n, Bucket: b}, nil
}

// pickRoot returns the root to import: named, or the CAR's only one.
func pickRoot(roots []cid.Cid, named cid.Cid) (cid.Cid, error) {
	if named.Defined() {
		return named, nil
	}
	switch len(roots) {
	case 0:
		return cid.Undef, errors.E(errors.Invalid, "the CAR names no root; name the CID to import")
	case 1:
		return roots[0], nil
	}
	return cid.Undef, errors.Errorf("", errors.Invalid, "the CAR has %d roots (%s, %s, …); name the one to import", len(roots), roots[0], roots[1])
}

// storeCAR verifies and stores every block br holds, and returns how many
// there were and the sizes of the raw ones, which checkComplete need not
// read back.
func (s *Service) storeCAR(ctx context.Context, br *car.BlockReader) (int64, map[cid.Cid]int, error) {
	batch := ipld.NewBufferedDAG(ctx, s.dag)
	leaves := map[cid.Cid]int{}
	var n int64
	for {
		blk, err := br.Next()
		if err == io.EOF {
			break
		}
		if errors.KindOf(err) != errors.Other {
			return 0, nil, err // the reader's own verdict, such as the quota
		}
		if err != nil {
			if stderrors.Is(err, io.ErrUnexpectedEOF) {
				return 0, nil, errors.Errorf("", readErrKind(ctx), "the CAR ends in the middle of block %d; send the whole file", n+1)
			}
			return 0, nil, errors.Errorf("", readErrKind(ctx), "block %d of the CAR cannot be read (%v); send a valid CAR", n+1, err)
		}
		n++
		nd, err := decodeBlock(blk)
		if err != nil {
			return 0, nil, err
		}
		if err := batch.Add(ctx, nd); err != nil {
			return 0, nil, errors.E(errors.Internal, err)
		}
		if blk.Cid().Prefix().Codec == cid.Raw {
			leaves[blk.Cid()] = len(blk.RawData())
		}
	}
	if err := batch.Commit(); err != nil {
		return 0, nil, errors.E(errors.Internal, err)
	}
	return n, leaves, nil
}

// decodeBlock checks blk's hash against its CID and decodes it as one of
// the codecs UnixFS uses.
func decodeBlock(blk blocks.Block) (ipld.Node, error) {
	c := blk.Cid()
	sum, err := c.Prefix().Sum(blk.RawData())
	if err != nil {
		return nil, errors.Errorf("", errors.Invalid, "block %s uses a hash this hub cannot check (%v)", c, err)
	}
	if !sum.Equals(c) {
		return nil, errors.Errorf("", errors.Invalid, "block %s does not match its CID (its data hashes to %s): the CAR is corrupt; export it again", c, sum)
	}
	switch c.Prefix().Codec {
	case cid.DagProtobuf:
		nd, err := merkledag.DecodeProtobufBlock(blk)
		if err != nil {
			return nil, errors.Errorf("", errors.Invalid, "block %s is not valid dag-pb (%v)", c, err)
		}
		return nd, nil
	case cid.Raw:
		return merkledag.DecodeRawBlock(blk)
	}
	return nil, errors.Errorf("", errors.Invalid, "block %s has codec 0x%x; buckets hold UnixFS, so a CAR may only carry dag-pb and raw blocks", c, c.Prefix().Codec)
}

// checkComplete returns the root node of the DAG at top once every block
// it links to is stored, its true sizes are recorded (verifyDAG) and the
// root is a UnixFS node. The sizes of the raw blocks the CAR held (leaves)
// are known, so they are not read back.
func (s *Service) checkComplete(ctx context.Context, top cid.Cid, leaves map[cid.Cid]int) (ipld.Node, error) {
	nd, err := s.verifyDAG(ctx, top, leaves)
	var m missingBlock
	if stderrors.As(err, &m) {
		return nil, errors.Errorf("", errors.FailedPrecondition, "the DAG at %s is incomplete: block %s is neither in the CAR nor in this hub; export the whole DAG", top, m.c)
	}
	if err != nil {
		return nil, err
	}
	if err := checkUnixFS(nd); err != nil {
		return nil, err
	}
	return nd, nil
}

// checkUnixFS fails unless nd is a UnixFS file or directory.
func checkUnixFS(nd ipld.Node) error {
	pn, ok := nd.(*merkledag.ProtoNode)
	if !ok {
		return nil // a raw block is a UnixFS file of its bytes
	}
	if _, err := unixfs.FSNodeFromBytes(pn.Data()); err != nil {
		return errors.Errorf("", errors.Invalid, "the root %s is dag-pb but not UnixFS (%v); a bucket holds UnixFS files and directories", nd.Cid(), err)
	}
	return nil
}
