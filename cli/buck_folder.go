package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/selfhub/hub/errors"
)

// Names inside a bucket folder.
const (
	// buckDir is the directory at a bucket folder's top that holds what
	// hub buck keeps about it. Push never sends it.
	buckDir = ".buck"
	// folderConfigName holds the folderConfig.
	folderConfigName = "config.json"
	// folderStateName holds the folderState.
	folderStateName = "state.json"
	// pullTempPrefix starts the names of files pull is still writing;
	// push and status pass them over, and the next pull removes them.
	pullTempPrefix = ".buckpull-"
	// seedName is the file the hub puts at every bucket's root; it is the
	// hub's, so push, pull and status leave it alone.
	seedName = ".textileseed"
)

// folderConfig says which bucket a folder is kept in step with.
type folderConfig struct {
	Key    string `json:"key"`           // the bucket key
	Thread string `json:"thread"`        // the DB that holds the bucket
	Name   string `json:"name"`          // the bucket's name, for messages
	Org    string `json:"org,omitempty"` // the org that owns it, when -o was given at init
}

// fileState is what the folder held at one path when it last matched the
// bucket.
type fileState struct {
	Cid     string `json:"cid"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime"` // Unix ns; a file with the same size and mtime is taken as unchanged
	SHA256  string `json:"sha256"`
}

// folderState is the folder's last pushed or pulled state. It is written
// only after the hub acknowledged what it records, so an interrupted push
// or pull leaves it describing what the hub holds, and a re-run carries
// on from there.
type folderState struct {
	// Root is the bucket root (/ipfs/<cid>) after the last push or pull;
	// pushes are fast-forward against it.
	Root  string               `json:"root"`
	Files map[string]fileState `json:"files"` // by slash-separated path from the top
}

// folder is a bucket folder: its top directory, config and state.
type folder struct {
	dir   string
	cfg   folderConfig
	state folderState
}

// findFolder returns the bucket folder at or above dir.
func findFolder(dir string) (*folder, error) {
	const op errors.Op = "cli.findFolder"
	for d := dir; ; {
		b, err := os.ReadFile(filepath.Join(d, buckDir, folderConfigName))
		if err == nil {
			fd := &folder{dir: d}
			if err := json.Unmarshal(b, &fd.cfg); err != nil || fd.cfg.Key == "" || fd.cfg.Thread == "" {
				return nil, errors.Errorf(op, errors.Invalid, "%s is not a valid bucket folder config; run hub buck init --existing KEY --thread DB again", filepath.Join(d, buckDir, folderConfigName))
			}
			return fd, fd.readState()
		}
		if !os.IsNotExist(err) {
			return nil, errors.E(op, errors.Internal, err)
		}
		up := filepath.Dir(d)
		if up == d {
			return nil, errors.Errorf(op, errors.NotExist, "%s is not in a bucket folder; run hub buck init there, or point --dir at one", dir)
		}
		d = up
	}
}

func (fd *folder) readState() error {
	const op errors.Op = "cli.readState"
	fd.state = folderState{Files: map[string]fileState{}}
	b, err := os.ReadFile(filepath.Join(fd.dir, buckDir, folderStateName))
	if os.IsNotExist(err) {
		return nil
	}
	if err == nil {
		err = json.Unmarshal(b, &fd.state)
	}
	if err != nil {
		return errors.Errorf(op, errors.Invalid, "cannot read %s (%v); delete it, then hub buck pull --force to start over", filepath.Join(fd.dir, buckDir, folderStateName), err)
	}
	if fd.state.Files == nil {
		fd.state.Files = map[string]fileState{}
	}
	return nil
}

// buckDirPerm is the mode hub buck makes .buck with, as for the
// folder's other directories.
const buckDirPerm = 0o755

// saveConfig writes the folder's config, creating .buck.
func (fd *folder) saveConfig() error {
	return writeJSONFile(filepath.Join(fd.dir, buckDir, folderConfigName), fd.cfg, buckDirPerm)
}

// saveState writes the folder's state.
func (fd *folder) saveState() error {
	return writeJSONFile(filepath.Join(fd.dir, buckDir, folderStateName), fd.state, buckDirPerm)
}

// localFile is a file in the folder as it is now.
type localFile struct {
	Size    int64
	ModTime int64 // Unix ns
}

// scan lists the folder's regular files that push would send: not in
// .buck, not being written by pull, not the hub's seed, not ignored.
// Symbolic links and other special files are passed over.
func (fd *folder) scan() (map[string]localFile, error) {
	const op errors.Op = "cli.scan"
	ig, err := loadIgnore(filepath.Join(fd.dir, ignoreFile))
	if err != nil {
		return nil, err
	}
	out := map[string]localFile{}
	err = filepath.WalkDir(fd.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == fd.dir {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, fd.dir+string(filepath.Separator)))
		skip := rel == buckDir || rel == seedName || strings.HasPrefix(d.Name(), pullTempPrefix) || ig.ignored(rel, d.IsDir())
		switch {
		case skip && d.IsDir():
			return filepath.SkipDir
		case skip || d.IsDir() || !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = localFile{Size: info.Size(), ModTime: info.ModTime().UnixNano()}
		return nil
	})
	if err != nil {
		return nil, errors.Errorf(op, errors.Internal, "reading the folder %s: %v", fd.dir, err)
	}
	return out, nil
}

// Kinds of change between the folder (or the bucket) and the state.
const (
	changeNew      = "new"
	changeModified = "modified"
	changeDeleted  = "deleted"
)

// change is one path that differs from the state.
type change struct {
	Path string `json:"path"`
	Kind string `json:"change"` // changeNew, changeModified or changeDeleted
	Size int64  `json:"size"`   // new size; 0 for deletions
}

// localChanges compares the folder's files with the state, hashing files
// whose size or mtime moved, and returns the changes by path. A file
// whose content is unchanged gets its new mtime recorded in the state in
// memory, so it is not hashed again after the next save. A tracked file
// that is now ignored is neither sent nor removed.
func (fd *folder) localChanges(files map[string]localFile) ([]change, error) {
	var out []change
	for p, lf := range files {
		st, ok := fd.state.Files[p]
		switch {
		case !ok:
			out = append(out, change{Path: p, Kind: changeNew, Size: lf.Size})
		case st.Size == lf.Size && st.ModTime == lf.ModTime:
		default:
			sum, err := hashFile(fd.path(p))
			if err != nil {
				return nil, err
			}
			if sum != st.SHA256 {
				out = append(out, change{Path: p, Kind: changeModified, Size: lf.Size})
				continue
			}
			st.ModTime = lf.ModTime
			fd.state.Files[p] = st
		}
	}
	for p := range fd.state.Files {
		if _, ok := files[p]; ok {
			continue
		}
		if exists(fd.path(p)) {
			continue // still there, but ignored now
		}
		out = append(out, change{Path: p, Kind: changeDeleted})
	}
	sortChanges(out)
	return out, nil
}

func sortChanges(cs []change) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Path < cs[j].Path })
}

// hashFile returns the hex SHA-256 of the file's contents.
func hashFile(file string) (string, error) {
	const op errors.Op = "cli.hashFile"
	f, err := os.Open(file)
	if err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", errors.E(op, errors.Internal, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
