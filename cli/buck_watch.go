package cli

import (
	"context"
	stderrors "errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// bucketsCollection is the ThreadDB collection that holds buckets, one
// instance per bucket with the bucket key as its ID (the wire's layout):
// a change to that instance is a change to the bucket.
const bucketsCollection = "buckets"

// defaultSettle is how long hub buck watch waits after the folder's last
// change before it pushes: long enough for an editor's save or a copy to
// finish, short enough to feel immediate.
const defaultSettle = time.Second

// syncTries is how often one sync of hub buck watch pulls and pushes
// again when the bucket moved between its pull and its push.
const syncTries = 3

func (a *app) buckWatchCommand(f *buckFlags) *cobra.Command {
	var (
		settle, poll time.Duration
		batchBytes   int64
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Keep the folder and its bucket in step until interrupted",
		Long: `Keep the folder and its bucket in step until interrupted: the folder's
changes are pushed once it has been quiet for --settle, and the bucket's
changes are pulled as the hub reports them (a Listen on the bucket).

The rules are push's and pull's: pushes are fast-forward, a pull keeps local
changes not pushed yet, and a file changed both here and in the bucket
stops the watch with pull's error (nothing written), for you to settle with
hub buck pull --force or hub buck push --force.

Changes are found with the operating system's file notifications; where
those do not work (some network or container file systems) --poll scans
the folder at that interval instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case settle <= 0:
				return errors.E(cliOp, errors.Invalid, "--settle must be positive")
			case poll < 0:
				return errors.E(cliOp, errors.Invalid, "--poll must not be negative")
			case batchBytes <= 0:
				return errors.E(cliOp, errors.Invalid, "--batch-bytes must be positive")
			}
			ctx := cmd.Context()
			err := a.folderCall(ctx, f, func(fd *folder, s *buckSession) error {
				w := &watcher{a: a, fd: fd, s: s, settle: settle, poll: poll, batchBytes: batchBytes}
				return w.run()
			})
			if ctx.Err() != nil {
				// Interrupted: the way a watch ends. The folder's state
				// records only what the hub acknowledged, as after an
				// interrupted push or pull.
				fmt.Fprintln(a.stderr, "Stopped watching.")
				return nil
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&settle, "settle", defaultSettle, "push once the folder has not changed for this long")
	cmd.Flags().DurationVar(&poll, "poll", 0, "scan the folder for changes at this interval instead of using file notifications")
	cmd.Flags().Int64Var(&batchBytes, "batch-bytes", defaultBatchBytes, "bytes of files to send in one change of the bucket")
	return cmd
}

// watcher runs one hub buck watch. Only run's goroutine touches the
// folder's state; the goroutines that watch the folder and the bucket
// only signal it.
type watcher struct {
	a            *app
	fd           *folder
	s            *buckSession
	settle, poll time.Duration
	batchBytes   int64
}

// notify sends on a channel of capacity one unless a signal is waiting
// already: many changes before the loop looks are one sync.
func notify(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run syncs once, then on each change of the bucket, and on each change
// of the folder once it settles, until the context ends or a sync fails.
func (w *watcher) run() error {
	const op errors.Op = "cli.watch"
	ctx, cancel := context.WithCancel(w.s.ctx)
	defer cancel()
	db, err := threads.Decode(w.fd.cfg.Thread)
	if err != nil {
		return errors.Errorf(op, errors.Invalid, "the folder's DB %q is not a thread ID: %v", w.fd.cfg.Thread, err)
	}
	local, remote := make(chan struct{}, 1), make(chan struct{}, 1)
	failed := make(chan error, 2) // one from each watching goroutine
	if w.poll > 0 {
		// The first scan is taken here, so that whatever changes once
		// the watch has begun differs from it.
		first, _ := w.fd.scan()
		go w.pollFolder(ctx, first, local)
	} else if err := w.notifyFolder(ctx, local, failed); err != nil {
		return err
	}
	// The Listen starts before the first sync, so a change made during
	// it is synced after it.
	go func() {
		filters := []threadsclient.ListenFilter{{Collection: bucketsCollection, InstanceID: w.fd.cfg.Key}}
		err := w.s.threads.Listen(ctx, db, filters, 0, func(ev threadsclient.ListenEvent) error {
			if ev.Action == threadsclient.ActionDelete {
				return errors.Errorf(op, errors.NotExist, "bucket %s was removed from the hub; the folder keeps its files", w.fd.cfg.Key)
			}
			notify(remote)
			return nil
		})
		if err == nil {
			err = errors.E(op, errors.Unavailable, "the hub ended the stream of the bucket's changes; run hub buck watch again")
		}
		failed <- err
	}()
	if err := w.sync(); err != nil {
		return err
	}
	fmt.Fprintf(w.a.stderr, "Watching %s and bucket %s (%s); interrupt to stop.\n", w.fd.dir, w.fd.cfg.Name, w.fd.cfg.Key)
	settled := time.NewTimer(w.settle)
	settled.Stop()
	for {
		select {
		case <-ctx.Done():
			return errors.E(op, errors.Canceled, ctx.Err())
		case err := <-failed:
			return err
		case <-local:
			settled.Reset(w.settle) // wait until the folder is quiet
			continue
		case <-remote:
		case <-settled.C:
		}
		if err := w.sync(); err != nil {
			return err
		}
	}
}

// sync brings the folder and the bucket in step: it pulls if the bucket
// moved, then pushes the folder's changes. A push refused because the
// bucket moved in between starts over.
func (w *watcher) sync() error {
	for try := 1; ; try++ {
		r, err := w.s.c.Root(w.s.ctx, w.fd.cfg.Key)
		if err != nil {
			return err
		}
		if r.Path != w.fd.state.Root {
			p := &puller{a: w.a, fd: w.fd, s: w.s}
			if err := p.run(); err != nil {
				return err
			}
		}
		_, err = w.a.push(w.fd, w.s, false, w.batchBytes)
		if !errors.Is(errors.FailedPrecondition, err) || try == syncTries {
			return err
		}
	}
}

// notifyFolder signals local on each change under the folder that push
// could care about, from the operating system's notifications: every
// directory is watched, and directories made later are added as they
// appear. It fails, suggesting --poll, if the folder cannot be watched.
func (w *watcher) notifyFolder(ctx context.Context, local chan<- struct{}, failed chan<- error) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return w.notifyError(err)
	}
	if err := w.watchTree(fw, w.fd.dir); err != nil {
		fw.Close()
		return err
	}
	go func() {
		defer fw.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-fw.Events:
				if w.own(ev.Name) {
					continue
				}
				if ev.Has(fsnotify.Create) {
					if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
						if err := w.watchTree(fw, ev.Name); err != nil {
							failed <- err
							return
						}
					}
				}
				notify(local)
			case err := <-fw.Errors:
				// A full queue lost events; the sync scans the folder
				// anyway, so it loses nothing.
				if stderrors.Is(err, fsnotify.ErrEventOverflow) {
					notify(local)
					continue
				}
				failed <- w.notifyError(err)
				return
			}
		}
	}()
	return nil
}

// watchTree adds dir and every directory below it, but .buck, to fw. A
// directory removed meanwhile is passed over.
func (w *watcher) watchTree(fw *fsnotify.Watcher, dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil && os.IsNotExist(err):
			return nil
		case err != nil:
			return err
		case !d.IsDir():
			return nil
		case p != w.fd.dir && d.Name() == buckDir:
			return filepath.SkipDir
		}
		if err := fw.Add(p); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return w.notifyError(err)
	}
	return nil
}

// notifyError explains a failure to watch the folder, and the way round it.
func (w *watcher) notifyError(err error) error {
	const op errors.Op = "cli.watch"
	if stderrors.Is(err, syscall.ENOSPC) {
		return errors.Errorf(op, errors.Exhausted, "cannot watch every directory of %s: the system's limit on watches is reached (%v); raise fs.inotify.max_user_watches, or pass --poll 2s to scan instead", w.fd.dir, err)
	}
	return errors.Errorf(op, errors.Internal, "cannot watch %s for changes (%v); pass --poll 2s to scan it instead", w.fd.dir, err)
}

// own reports whether file is hub buck's own: .buck, or a file pull is
// still writing. Their changes are not the folder's.
func (w *watcher) own(file string) bool {
	rel, err := filepath.Rel(w.fd.dir, file)
	if err != nil {
		return false
	}
	rel = filepath.ToSlash(rel)
	return rel == buckDir || strings.HasPrefix(rel, buckDir+"/") || strings.HasPrefix(filepath.Base(file), pullTempPrefix)
}

// pollFolder signals local each time a scan of the folder, every poll,
// differs from the one before (first, at the start): a file added,
// removed, resized or touched.
func (w *watcher) pollFolder(ctx context.Context, prev map[string]localFile, local chan<- struct{}) {
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := w.fd.scan()
		if err != nil || !maps.Equal(cur, prev) {
			notify(local) // a failed scan fails the sync, which says why
		}
		prev = cur
	}
}
