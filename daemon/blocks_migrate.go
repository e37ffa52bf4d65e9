package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/internal/blockstore"
	"github.com/selfhub/hub/store"
)

// MigrateStats is what MigrateBlocks did.
type MigrateStats struct {
	Copied      int   // blocks copied
	CopiedBytes int64 // their bytes
	Present     int   // blocks the destination held already (an earlier, interrupted run)
	Verified    int   // blocks read back from the destination and checked against their CIDs
}

// migrateBatch is how many blocks MigrateBlocks writes (and, into a
// directory, syncs) at once: an interrupted run loses at most one batch.
const migrateBatch = 64

// MigrateBlocks copies every bucket block of the hub cfg describes from
// where cfg.Blocks says they live to to (an absolute directory or an
// s3:// URL), checking each block against its CID as it reads it, then
// reads every block back from to and checks it again. hubd must not run
// on the repo meanwhile (its store is locked while it runs).
//
// It is resumable: a run that was killed is run again, and copies only the
// blocks to does not hold yet (one listing of to finds them); what it
// holds is whole (objects are written whole, files are renamed into place
// once synced) and verified like the rest. The source is left as it was:
// once hubd runs with --blocks to, the old copy can be removed.
func MigrateBlocks(ctx context.Context, cfg Config, to string, log *slog.Logger) (MigrateStats, error) {
	const op errors.Op = "daemon.MigrateBlocks"
	var stats MigrateStats
	dstCfg := cfg
	dstCfg.Blocks, dstCfg.BlocksCache = to, ""
	if _, err := dstCfg.blocksS3(); err != nil {
		return stats, errors.E(op, errors.Invalid, fmt.Errorf("--to: %s", strings.TrimPrefix(err.Error(), "blocks: ")))
	}
	if to == "" {
		return stats, errors.Errorf(op, errors.Invalid, "--to: say where the blocks go: an absolute directory or s3://BUCKET/PREFIX?endpoint=URL&region=REGION&path-style=true")
	}
	if blocksWhere(dstCfg) == blocksWhere(cfg) {
		return stats, errors.Errorf(op, errors.Invalid, "--to: the blocks are at %s already", to)
	}
	st, err := store.Open(filepath.Join(cfg.Repo, "store"), log)
	if err != nil {
		return stats, errors.E(op, errors.FailedPrecondition, fmt.Errorf("open the repo's store (stop hubd on %s first): %w", cfg.Repo, err))
	}
	defer st.Close()
	srcCfg := cfg
	srcCfg.BlocksCache = ""
	src, err := openBlocks(ctx, srcCfg, nil, log) // read only: no records of its objects
	if err != nil {
		return stats, err
	}
	dst, err := openBlocks(ctx, dstCfg, st, log) // an s3:// destination records what it gets, for GC
	if err != nil {
		return stats, err
	}

	have, err := allKeys(ctx, dst)
	if err != nil {
		return stats, err
	}
	var batch []blocks.Block
	write := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.PutMany(ctx, batch); err != nil {
			return err
		}
		if err := dst.Flush(ctx); err != nil {
			return err
		}
		for _, b := range batch {
			stats.Copied++
			stats.CopiedBytes += int64(len(b.RawData()))
		}
		log.Info("copying blocks", "copied", stats.Copied, "bytes", stats.CopiedBytes, "present", stats.Present)
		batch = batch[:0]
		return nil
	}
	err = eachKey(ctx, src, func(k cid.Cid) error {
		if _, ok := have[string(k.Hash())]; ok {
			stats.Present++
			return nil
		}
		b, err := readVerified(ctx, src, k)
		if err != nil {
			return err
		}
		if batch = append(batch, b); len(batch) == migrateBatch {
			return write()
		}
		return nil
	})
	if err == nil {
		err = write()
	}
	if err != nil {
		return stats, err
	}
	// Every block of the source, read back from the destination.
	err = eachKey(ctx, src, func(k cid.Cid) error {
		if _, err := readVerified(ctx, dst, k); err != nil {
			return err
		}
		stats.Verified++
		return nil
	})
	return stats, err
}

// allKeys returns the multihashes of every block bs holds.
func allKeys(ctx context.Context, bs blockstore.Blockstore) (map[string]struct{}, error) {
	have := map[string]struct{}{}
	err := eachKey(ctx, bs, func(k cid.Cid) error {
		have[string(k.Hash())] = struct{}{}
		return nil
	})
	return have, err
}

// eachKey calls fn with every block bs holds, stopping at fn's first
// error.
func eachKey(ctx context.Context, bs blockstore.Blockstore, fn func(cid.Cid) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys, err := bs.AllKeysChan(ctx)
	if err != nil {
		return err
	}
	for k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// readVerified reads block k from bs and checks that its bytes hash to
// k's multihash.
func readVerified(ctx context.Context, bs blockstore.Blockstore, k cid.Cid) (blocks.Block, error) {
	const op errors.Op = "daemon.MigrateBlocks"
	b, err := bs.Get(ctx, k)
	if err != nil {
		return nil, errors.E(op, fmt.Errorf("block %s: %w", k, err))
	}
	got, err := k.Prefix().Sum(b.RawData())
	if err != nil || string(got.Hash()) != string(k.Hash()) {
		return nil, errors.Errorf(op, errors.DataLoss, "block %s: its %d bytes do not hash to its CID; the block is damaged", k, len(b.RawData()))
	}
	return b, nil
}

// BlocksMain runs `hubd blocks migrate --to WHERE [hubd flags]`: the hub
// configured by the flags (its --repo and --blocks) is migrated to WHERE
// (MigrateBlocks). It returns the process's exit code.
func BlocksMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	const usage = "usage: hubd blocks migrate --to DIR|s3://BUCKET/PREFIX?... [hubd flags: --repo, --blocks, ...]\n"
	if len(args) == 0 || args[0] != "migrate" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	to, rest, err := splitTo(args[1:])
	if err != nil {
		fmt.Fprintf(stderr, "hubd blocks migrate: %v\n%s", err, usage)
		return 2
	}
	cfg, err := LoadConfig(rest, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "hubd blocks migrate: %v\n", err)
		return 2
	}
	log := NewLogger(cfg, stderr)
	stats, err := MigrateBlocks(ctx, cfg, to, log)
	if err != nil {
		fmt.Fprintf(stderr, "hubd blocks migrate: %s (copied %d blocks so far; run it again to go on)\n", errors.Message(err), stats.Copied)
		return 1
	}
	fmt.Fprintf(stdout, "copied %d blocks (%d bytes) to %s, %d were there already; read back and verified %d.\nStart hubd with --blocks %s.\n",
		stats.Copied, stats.CopiedBytes, to, stats.Present, stats.Verified, to)
	return 0
}

// splitTo takes the --to flag out of args, leaving hubd's flags.
func splitTo(args []string) (to string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--to" || a == "-to":
			if i+1 == len(args) {
				return "", nil, fmt.Errorf("--to needs a value")
			}
			i++
			to = args[i]
		case strings.HasPrefix(a, "--to=") || strings.HasPrefix(a, "-to="):
			_, to, _ = strings.Cut(a, "=")
		default:
			rest = append(rest, a)
		}
	}
	if to == "" {
		return "", nil, fmt.Errorf("--to: say where the blocks go")
	}
	return to, rest, nil
}
