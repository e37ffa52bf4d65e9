package buckets

import (
	"context"
	"io"
	"runtime"
	"sync"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// MaxOpenFiles is how many files of one PushPaths may be started and not
// yet ended: each holds an import and its buffers. Clients send files one
// after another (the JS client) or a few interleaved.
const MaxOpenFiles = 64

// PushPaths stores the files whose chunks next yields and links them all
// into the bucket in one change, fast-forward only against root (empty
// forces), as a Batch does. Chunks of different files may interleave; a
// chunk with no data ends its file; next returns io.EOF after the last
// chunk. Each file streams into the blockstore through its own pipe as its
// chunks arrive, so memory does not grow with the files' sizes; at most
// MaxOpenFiles files may be open at once (Exhausted), and the files that
// ended but are still importing hold back next while there are twice as
// many as processors. An error from next or from any import, a chunk after
// its file ended, or a file never ended stores nothing.
func (s *Service) PushPaths(ctx context.Context, p hub.Principal, thread threads.ID, key, root string, next func() (hub.Chunk, error)) ([]BatchFile, Bucket, error) {
	const op errors.Op = "buckets.PushPaths"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batch, err := s.NewBatch(ctx, p, thread, key, root)
	if err != nil {
		return nil, Bucket{}, err
	}
	defer batch.Discard()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		addErr error                         // guarded by mu: the first failed Add
		pipes  = map[string]*io.PipeWriter{} // by path; nil once the file ended
		states = map[string]*importState{}   // by path, until the file ended
		// Bounds the files importing after their end, so a fast client
		// cannot start thousands of imports at once.
		finishing = newImports(2 * runtime.GOMAXPROCS(0))
	)
	fail := func(err error) {
		mu.Lock()
		if addErr == nil {
			addErr = err
		}
		mu.Unlock()
		cancel()
	}
	abort := func(err error) ([]BatchFile, Bucket, error) {
		for _, w := range pipes {
			if w != nil {
				w.CloseWithError(err)
			}
		}
		cancel()
		wg.Wait()
		return nil, Bucket{}, err
	}
	for {
		c, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return abort(err)
		}
		w, ok := pipes[c.Path]
		if !ok && len(states) >= MaxOpenFiles {
			return abort(errors.Errorf(op, errors.Exhausted, "more than %d files of this PushPaths are open at once; end a file (a chunk with no data) before starting more", MaxOpenFiles))
		}
		if !ok {
			var r *io.PipeReader
			r, w = io.Pipe()
			pipes[c.Path] = w
			path, f := c.Path, &importState{}
			states[path] = f
			wg.Go(func() {
				defer finishing.exit(f)
				if _, err := batch.Add(ctx, path, r); err != nil {
					r.CloseWithError(err)
					fail(err)
				}
			})
		}
		if w == nil {
			return abort(errors.Errorf(op, errors.Invalid, "chunk for %q after its end; a chunk with no data ends a file", errors.Clip(c.Path)))
		}
		if len(c.Data) == 0 {
			w.Close()
			pipes[c.Path] = nil
			finishing.end(ctx, states[c.Path])
			delete(states, c.Path)
			continue
		}
		if _, err := w.Write(c.Data); err != nil {
			// The import failed: err is its error, passed through the pipe
			// (addErr may not be set yet).
			mu.Lock()
			if addErr != nil {
				err = addErr
			}
			mu.Unlock()
			return abort(err)
		}
	}
	for path, w := range pipes {
		if w != nil {
			// The chunks ended mid-file: refuse rather than store a
			// truncated file.
			return abort(errors.Errorf(op, errors.Invalid, "the stream ended before the file %q did; end each file with a chunk that has no data", errors.Clip(path)))
		}
	}
	wg.Wait()
	if addErr != nil {
		return nil, Bucket{}, addErr
	}
	return batch.Commit(ctx)
}

// imports counts the files of a PushPaths that are still being imported
// after their last chunk arrived, and makes the reader of chunks wait at a
// file's end while there are max of them. Files still receiving chunks are
// not counted: their imports wait for the reader, so counting them could
// deadlock a client that interleaves many files.
type imports struct {
	max int
	// mu guards finishing and every importState.
	mu        sync.Mutex
	cond      *sync.Cond
	finishing int
}

// importState is one file's import: whether its last chunk arrived and
// whether its import has returned.
type importState struct{ ended, exited bool }

func newImports(max int) *imports {
	im := &imports{max: max}
	im.cond = sync.NewCond(&im.mu)
	return im
}

// end records that f's last chunk arrived and waits until fewer than max
// ended files are importing (or ctx ends).
func (im *imports) end(ctx context.Context, f *importState) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if !f.exited {
		f.ended = true
		im.finishing++
	}
	stop := context.AfterFunc(ctx, func() {
		im.mu.Lock()
		im.cond.Broadcast()
		im.mu.Unlock()
	})
	defer stop()
	for im.finishing >= im.max && ctx.Err() == nil {
		im.cond.Wait()
	}
}

// exit records that f's import returned.
func (im *imports) exit(f *importState) {
	im.mu.Lock()
	f.exited = true
	if f.ended {
		im.finishing--
		im.cond.Broadcast()
	}
	im.mu.Unlock()
}
