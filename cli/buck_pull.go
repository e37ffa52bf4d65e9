package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub/errors"
)

func (a *app) buckPullCommand(f *buckFlags) *cobra.Command {
	var force, hard bool
	cmd := &cobra.Command{
		Use:   "pull",
		Short: "Bring the bucket's changes into the folder",
		Long: `Bring the bucket's current state into the folder: files new or changed in
the bucket are written, files the bucket no longer has are deleted. Local
changes not pushed yet are kept; where the bucket changed the same file,
pull refuses unless --force, which overwrites local changes with the
bucket's. --hard also deletes local files the bucket never had (ignored
files are left alone).

Each file is written to a temporary name and renamed into place, and the
folder records it once it is whole, so an interrupted pull leaves no
half-written file and can simply be run again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.folderCall(cmd.Context(), f, func(fd *folder, s *buckSession) error {
				p := &puller{a: a, fd: fd, s: s, force: force, hard: hard}
				return p.run()
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite local changes with the bucket's")
	cmd.Flags().BoolVar(&hard, "hard", false, "also delete local files that are not in the bucket")
	return cmd
}

// puller runs one pull.
type puller struct {
	a           *app
	fd          *folder
	s           *buckSession
	force, hard bool
}

func (p *puller) run() error {
	fd := p.fd
	if err := fd.removeTemps(); err != nil {
		return err
	}
	files, err := fd.scan()
	if err != nil {
		return err
	}
	if err := p.a.reconcile(fd, p.s, files); err != nil {
		return err
	}
	remote, root, err := p.s.remoteFiles(fd.cfg.Key)
	if err != nil {
		return err
	}
	local, err := fd.localChanges(files)
	if err != nil {
		return err
	}
	localKind := map[string]string{}
	for _, c := range local {
		localKind[c.Path] = c.Kind
	}
	var gets, dels, conflicts []string
	var total int64
	for path, rf := range remote {
		st, tracked := fd.state.Files[path]
		remoteChanged := !tracked || st.Cid != rf.Cid
		kind, changed := localKind[path]
		if !changed && !tracked && exists(fd.path(path)) {
			kind, changed = changeNew, true // an ignored file in the way
		}
		switch {
		case !changed && !remoteChanged:
			continue
		case changed && remoteChanged && !p.force:
			conflicts = append(conflicts, fmt.Sprintf("%s (%s here, changed in the bucket)", path, kind))
			continue
		case changed && !remoteChanged && !p.force:
			continue // a local change the next push sends
		}
		gets = append(gets, path)
		total += rf.Size
	}
	for path := range fd.state.Files {
		if _, ok := remote[path]; ok {
			continue
		}
		switch kind := localKind[path]; {
		case kind == changeDeleted:
			delete(fd.state.Files, path)
		case kind == changeModified && !p.force:
			conflicts = append(conflicts, fmt.Sprintf("%s (modified here, deleted in the bucket)", path))
		default:
			dels = append(dels, path)
		}
	}
	if p.hard {
		for path := range files {
			if _, inRemote := remote[path]; !inRemote && localKind[path] == changeNew {
				dels = append(dels, path)
			}
		}
	}
	if len(conflicts) > 0 {
		sort.Strings(conflicts)
		return errors.Errorf(cliOp, errors.FailedPrecondition, "pulling would overwrite local changes to %s; push them first (with --force to overwrite the bucket's), or pull --force to discard them",
			strings.Join(conflicts[:min(len(conflicts), 5)], ", ")+more(len(conflicts), 5))
	}
	sort.Strings(gets)
	sort.Strings(dels)
	m := p.a.newMeter("pulled", total)
	defer m.finish()
	for _, path := range gets {
		rf := remote[path]
		st, err := p.get(path, rf, m)
		if err != nil {
			return err
		}
		fd.state.Files[path] = st
		if err := fd.saveState(); err != nil {
			return err
		}
		m.step(path)
	}
	for _, path := range dels {
		if err := os.Remove(fd.path(path)); err != nil && !os.IsNotExist(err) {
			return errors.E(cliOp, errors.Internal, err)
		}
		delete(fd.state.Files, path)
		if err := fd.saveState(); err != nil {
			return err
		}
	}
	// Files are pulled by path: one changed since the listing comes
	// with its new contents but the listed CID, so the next pull, seeing
	// the bucket's CID differ, fetches it again.
	fd.state.Root = root
	if err := fd.saveState(); err != nil {
		return err
	}
	m.finish()
	fmt.Fprintf(p.a.stdout, "Pulled %s (%s) and deleted %d; the folder is at %s.\n", count(len(gets), "file"), byteSize(total), len(dels), root)
	return nil
}

// more returns ", and N more" when n things were cut to shown.
func more(n, shown int) string {
	if n <= shown {
		return ""
	}
	return fmt.Sprintf(" and %d more", n-shown)
}

// get downloads the file rf to path through a temporary file (named
// with pullTempPrefix, so push, status and watch pass it over), and returns
// its new state.
func (p *puller) get(path string, rf remoteFile, m *meter) (fileState, error) {
	const op errors.Op = "cli.pull"
	file := p.fd.path(path)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fileState{}, errors.Errorf(op, errors.Internal, "cannot make the directory for %s: %v", path, err)
	}
	h := sha256.New()
	var n int64
	err := replaceFile(op, file, pullTempPrefix+"*", func(tmp io.Writer) (err error) {
		n, err = p.s.c.PullPath(p.s.ctx, p.fd.cfg.Key, path, io.MultiWriter(tmp, h, meterWriter{m}))
		return err
	})
	if err != nil {
		return fileState{}, err
	}
	info, err := os.Stat(file)
	if err != nil {
		return fileState{}, errors.E(op, errors.Internal, err)
	}
	return fileState{Cid: rf.Cid, Size: n, ModTime: info.ModTime().UnixNano(), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// meterWriter counts what is written through it on a meter.
type meterWriter struct{ m *meter }

func (w meterWriter) Write(b []byte) (int, error) {
	w.m.add(int64(len(b)))
	return len(b), nil
}

// path returns the local file name of the slash-separated path.
func (fd *folder) path(p string) string { return filepath.Join(fd.dir, filepath.FromSlash(p)) }

// exists reports whether something is at file.
func exists(file string) bool {
	_, err := os.Lstat(file)
	return err == nil
}

// removeTemps deletes what an interrupted pull left half-written.
func (fd *folder) removeTemps() error {
	const op errors.Op = "cli.removeTemps"
	err := filepath.WalkDir(fd.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == buckDir {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), pullTempPrefix) {
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		return errors.Errorf(op, errors.Internal, "removing what an interrupted pull left in %s: %v", fd.dir, err)
	}
	return nil
}
