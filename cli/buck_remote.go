package cli

import (
	"strings"

	"github.com/selfhub/hub/errors"
)

// remoteFile is a file in the bucket.
type remoteFile struct {
	Cid  string
	Size int64
}

// listTries is how often remoteFiles starts over when the bucket changes
// while it lists it.
const listTries = 3

// remoteFiles lists every file of the bucket key, by slash-separated
// path, but for the hub's seed, and returns the root (/ipfs/<cid>) they
// are the files of. Each directory is listed through the bucket (so
// private buckets list their names in the clear); if the bucket moves
// meanwhile, the listing starts over.
func (s *buckSession) remoteFiles(key string) (map[string]remoteFile, string, error) {
	for try := 1; ; try++ {
		out := map[string]remoteFile{}
		root := ""
		var walk func(dir string) error
		walk = func(dir string) error {
			it, r, err := s.c.ListPath(s.ctx, key, dir)
			if err != nil {
				return err
			}
			if root == "" {
				root = r.Path
			} else if r.Path != root {
				return errMoved
			}
			for _, sub := range it.Items {
				rel := strings.TrimPrefix(dir+"/"+sub.Name, "/")
				switch {
				case sub.IsDir:
					if err := walk(rel); err != nil {
						return err
					}
				case rel != seedName:
					out[rel] = remoteFile{Cid: sub.Cid, Size: sub.Size}
				}
			}
			return nil
		}
		err := walk("")
		switch {
		case err == nil:
			return out, root, nil
		case err != errMoved:
			return nil, "", err
		case try == listTries:
			return nil, "", errors.E(cliOp, errors.Unavailable, "the bucket kept changing while it was listed; run the command again")
		}
	}
}

// errMoved says the bucket moved while remoteFiles listed it.
var errMoved = errors.E(cliOp, errors.FailedPrecondition, "the bucket moved")

// remoteChanges compares the bucket's files with the folder's state.
func (fd *folder) remoteChanges(remote map[string]remoteFile) []change {
	var out []change
	for p, rf := range remote {
		st, ok := fd.state.Files[p]
		switch {
		case !ok:
			out = append(out, change{Path: p, Kind: changeNew, Size: rf.Size})
		case st.Cid != rf.Cid:
			out = append(out, change{Path: p, Kind: changeModified, Size: rf.Size})
		}
	}
	for p := range fd.state.Files {
		if _, ok := remote[p]; !ok {
			out = append(out, change{Path: p, Kind: changeDeleted})
		}
	}
	sortChanges(out)
	return out
}
