package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/errors"
)

// Push batch limits: each batch is one change of the bucket's root, and
// the state is saved after each, so an interrupted push loses at most one
// batch of work.
const (
	defaultBatchBytes = 64 << 20
	maxBatchFiles     = 256
)

func (a *app) buckPushCommand(f *buckFlags) *cobra.Command {
	var (
		force      bool
		batchBytes int64
	)
	cmd := &cobra.Command{
		Use:   "push",
		Short: "Send the folder's changes since the last push or pull to the bucket",
		Long: `Send what changed in the folder since the last push or pull: new and
modified files are pushed, deleted ones removed from the bucket. Files the
.buckignore leaves out are not sent.

Pushes are fast-forward only: if the bucket changed since this folder last
pushed or pulled, the hub refuses, and you pull first, or pass --force to
push over it. Files go in batches (--batch-bytes), each one change of the
bucket; the folder records each batch once the hub has acknowledged it, so
a push that is interrupted can simply be run again: it sends only what is
left.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if batchBytes <= 0 {
				return errors.E(cliOp, errors.Invalid, "--batch-bytes must be positive")
			}
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				pushed, err := a.push(fd, s, force, batchBytes)
				if err == nil && !pushed {
					fmt.Fprintln(a.stdout, "Everything up to date.")
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "push even if the bucket changed since the last push or pull, overwriting those changes")
	cmd.Flags().Int64Var(&batchBytes, "batch-bytes", defaultBatchBytes, "bytes of files to send in one change of the bucket")
	return cmd
}

// push sends the folder's changes since its state to the bucket, in
// batches of batchBytes, fast-forward from the state's root unless force.
// It reports whether there was anything to send.
func (a *app) push(fd *folder, s *buckSession, force bool, batchBytes int64) (bool, error) {
	files, err := fd.scan()
	if err != nil {
		return false, err
	}
	if !force {
		if err := a.reconcile(fd, s, files); err != nil {
			return false, err
		}
	}
	changes, err := fd.localChanges(files)
	if err != nil || len(changes) == 0 {
		return false, err
	}
	p := &pusher{a: a, fd: fd, s: s, files: files, root: fd.state.Root}
	if force {
		p.root = ""
	}
	return true, p.run(changes, batchBytes)
}

// pusher runs one push.
type pusher struct {
	a     *app
	fd    *folder
	s     *buckSession
	files map[string]localFile
	root  string // the root the next change is fast-forward against; "" forces
	m     *meter
}

func (p *pusher) run(changes []change, batchBytes int64) error {
	var sends []change
	var total int64
	for _, c := range changes {
		if c.Kind != changeDeleted {
			sends = append(sends, c)
			total += c.Size
		}
	}
	p.m = p.a.newMeter("pushed", total)
	defer p.m.finish()
	for len(sends) > 0 {
		n, size := 0, int64(0)
		for n < len(sends) && n < maxBatchFiles && (n == 0 || size+sends[n].Size <= batchBytes) {
			size += sends[n].Size
			n++
		}
		if err := p.batch(sends[:n]); err != nil {
			return err
		}
		sends = sends[n:]
	}
	removed := 0
	for _, c := range changes {
		if c.Kind != changeDeleted {
			continue
		}
		r, err := p.s.c.RemovePath(p.s.ctx, p.fd.cfg.Key, c.Path, p.root)
		switch {
		case errors.Is(errors.NotExist, err):
			// Someone removed it already: the bucket is as we want it.
		case err != nil:
			return err
		default:
			p.root = r.Path
			p.fd.state.Root = r.Path
		}
		delete(p.fd.state.Files, c.Path)
		if err := p.fd.saveState(); err != nil {
			return err
		}
		removed++
		p.m.step("removal of " + c.Path)
	}
	p.m.finish()
	fmt.Fprintf(p.a.stdout, "Pushed %s (%s) and removed %d; the bucket is at %s.\n",
		count(len(changes)-removed, "file"), byteSize(total), removed, p.fd.state.Root)
	return nil
}

// batch pushes cs in one change and records them once the hub has.
func (p *pusher) batch(cs []change) error {
	readers := make([]*pushFile, len(cs))
	files := make([]bucketsclient.File, len(cs))
	for i, c := range cs {
		readers[i] = &pushFile{file: p.fd.path(c.Path), m: p.m}
		files[i] = bucketsclient.File{Path: c.Path, Data: readers[i]}
	}
	defer func() {
		for _, r := range readers {
			r.close()
		}
	}()
	pushed, root, err := p.s.c.PushFiles(p.s.ctx, p.fd.cfg.Key, p.root, files)
	if err != nil {
		return err
	}
	cids := make(map[string]string, len(pushed))
	for _, f := range pushed {
		cids[f.Path] = f.Cid
	}
	for i, c := range cs {
		cid, ok := cids[c.Path]
		if !ok {
			return errors.Errorf(cliOp, errors.Internal, "the hub did not report %s among the files it stored", c.Path)
		}
		lf := p.files[c.Path]
		// The mtime is the one seen before reading: a file changed while
		// it was sent has a later one, so the next push sends it again.
		p.fd.state.Files[c.Path] = fileState{Cid: cid, Size: readers[i].n, ModTime: lf.ModTime, SHA256: hex.EncodeToString(readers[i].h.Sum(nil))}
	}
	p.root = root.Path
	p.fd.state.Root = root.Path
	if err := p.fd.saveState(); err != nil {
		return err
	}
	names := make([]string, 0, min(len(cs), 3))
	for _, c := range cs[:min(len(cs), 3)] {
		names = append(names, c.Path)
	}
	what := strings.Join(names, ", ")
	if len(cs) > 3 {
		what += fmt.Sprintf(" and %d more", len(cs)-3)
	}
	p.m.step(what)
	return nil
}

// pushFile reads a file for a push, opening it on first read, hashing and
// counting what it reads on the meter.
type pushFile struct {
	file string
	m    *meter
	f    *os.File
	h    hash.Hash
	n    int64
	done bool // read to its end (or failed): never reopened
}

func (r *pushFile) Read(b []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	if r.f == nil {
		f, err := os.Open(r.file)
		if err != nil {
			r.done = true
			return 0, err
		}
		r.f, r.h = f, sha256.New()
	}
	n, err := r.f.Read(b)
	r.h.Write(b[:n])
	r.n += int64(n)
	r.m.add(int64(n))
	if err != nil {
		r.done = true
		r.close()
	}
	return n, err
}

func (r *pushFile) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}
