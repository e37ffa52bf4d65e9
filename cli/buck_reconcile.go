package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	bucketsclient "github.com/selfhub/hub/client/buckets"
	"github.com/selfhub/hub/errors"
)

// reconcile catches the folder's state up with a bucket that moved only
// by this folder's own changes: a push the hub committed whose answer
// never arrived, because the push was interrupted just then. The state is
// written only after an answer, so it lags such a bucket, and the next
// push would be refused as not fast-forward.
//
// When the bucket's root is not the state's, reconcile lists the bucket
// and computes the CIDs of local files where it differs. If every file in
// the bucket is then either as the state has it or the same as the local
// file, and every file the state has but the bucket lacks is gone locally
// too, the bucket holds nothing but the folder's changes: the state takes
// its root and files, and the push carries on from there. Otherwise
// someone else changed the bucket, and the state is left alone for pull.
func (a *app) reconcile(fd *folder, s *buckSession, files map[string]localFile) error {
	r, err := s.c.Root(s.ctx, fd.cfg.Key)
	if err != nil || r.Path == fd.state.Root || fd.state.Root == "" {
		return err
	}
	remote, root, err := s.remoteFiles(fd.cfg.Key)
	if err != nil {
		return err
	}
	next := make(map[string]fileState, len(remote))
	for p, rf := range remote {
		if st, ok := fd.state.Files[p]; ok && st.Cid == rf.Cid {
			next[p] = st
			continue
		}
		lf, ok := files[p]
		if !ok {
			return nil // a file that is neither the state's nor ours
		}
		c, sum, err := fileCID(fd.path(p))
		if err != nil {
			return err
		}
		if c != rf.Cid {
			return nil
		}
		next[p] = fileState{Cid: c, Size: lf.Size, ModTime: lf.ModTime, SHA256: sum}
	}
	for p := range fd.state.Files {
		if _, ok := remote[p]; !ok && exists(fd.path(p)) {
			return nil // removed from the bucket, not by us
		}
	}
	fd.state.Files, fd.state.Root = next, root
	if err := fd.saveState(); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "The bucket already holds this folder's changes up to %s (an interrupted push); carrying on from there.\n", root)
	return nil
}

// fileCID returns the CID a hub gives the file's contents, and their hex
// SHA-256, reading it once.
func fileCID(file string) (string, string, error) {
	const op errors.Op = "cli.fileCID"
	f, err := os.Open(file)
	if err != nil {
		return "", "", errors.E(op, errors.Internal, err)
	}
	defer f.Close()
	h := sha256.New()
	c, err := bucketsclient.FileCID(io.TeeReader(f, h))
	if err != nil {
		return "", "", err
	}
	return c, hex.EncodeToString(h.Sum(nil)), nil
}
