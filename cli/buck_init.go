package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// bucketsDBName is the name of the DB init keeps buckets in when --thread
// is not given: the one @textile/hub's Buckets.getOrCreate uses, so the
// CLI and apps see the same buckets.
const bucketsDBName = "buckets"

// bucketJSON is a bucket as hub buck init --json and root --json print
// it. The field names are a scripting interface; change them only by
// adding.
type bucketJSON struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	Thread string `json:"thread"`
	Root   string `json:"root"` // /ipfs/<cid>
	Owner  string `json:"owner,omitempty"`
}

func (a *app) buckInitCommand(f *buckFlags) *cobra.Command {
	var (
		name, cid, existing, thread string
		private, asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Link the folder to a new bucket, or to an existing one with --existing",
		Long: `Make the folder (--dir, default the current one) a bucket folder: create a
bucket named --name, or attach the existing bucket --existing KEY. The
bucket lives in the DB --thread, by default your DB named "buckets" (made
if you have none), the one apps using @textile/hub's Buckets share. --cid
starts the new bucket from a UnixFS directory already in the hub.

After init, hub buck push sends the folder's files; for an existing
bucket, hub buck pull brings its files here.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := filepath.Abs(f.dir)
			if err != nil {
				return errors.E(cliOp, errors.Invalid, err)
			}
			if exists(filepath.Join(dir, buckDir, folderConfigName)) {
				return errors.Errorf(cliOp, errors.Exist, "%s is a bucket folder already; use it, or remove its %s directory to start over", dir, buckDir)
			}
			if existing != "" && (name != "" || cid != "" || private) {
				return errors.E(cliOp, errors.Invalid, "--existing attaches a bucket as it is; drop --name, --cid and --private")
			}
			if existing == "" {
				if name, err = a.askFlag(name, "--name", "Bucket name: "); err != nil {
					return err
				}
			}
			return a.buckCall(cmd.Context(), f, "", "", func(s *buckSession) error {
				if thread == "" {
					if thread, err = s.bucketsDB(); err != nil {
						return err
					}
				}
				s.ctx = client.WithThread(s.ctx, thread)
				fd := &folder{dir: dir, cfg: folderConfig{Thread: thread, Org: a.org}, state: folderState{Files: map[string]fileState{}}}
				var r bucketsclient.Root
				if existing != "" {
					if r, err = s.c.Root(s.ctx, existing); err != nil {
						return err
					}
				} else {
					c, err := s.c.Create(s.ctx, name, bucketsclient.CreateOptions{Private: private, BootstrapCID: cid})
					if err != nil {
						return err
					}
					r = c.Root
				}
				fd.cfg.Key, fd.cfg.Name, fd.state.Root = r.Key, r.Name, r.Path
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return errors.E(cliOp, errors.Internal, err)
				}
				if err := fd.saveState(); err != nil {
					return err
				}
				if err := fd.saveConfig(); err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, bucketJSON{Key: r.Key, Name: r.Name, Thread: thread, Root: r.Path, Owner: string(r.Owner)})
				}
				next := "hub buck push sends the folder's files"
				if existing != "" || cid != "" {
					next = "hub buck pull brings its files here"
				}
				fmt.Fprintf(a.stdout, "Bucket %s (%s) in DB %s is linked to %s; %s.\n", r.Name, r.Key, thread, dir, next)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the new bucket")
	cmd.Flags().BoolVar(&private, "private", false, "make a private (encrypted) bucket")
	cmd.Flags().StringVar(&cid, "cid", "", "start the bucket from this UnixFS directory CID")
	cmd.Flags().StringVar(&existing, "existing", "", "attach the existing bucket with this key instead of making one")
	cmd.Flags().StringVar(&thread, "thread", "", "the DB that holds the bucket (default: your DB named \"buckets\")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// bucketsDB returns the ID of the caller's DB named "buckets", making it
// if there is none.
func (s *buckSession) bucketsDB() (string, error) {
	dbs, err := s.threads.ListDBs(s.ctx)
	if err != nil {
		return "", err
	}
	for _, d := range dbs {
		if d.Name == bucketsDBName {
			return d.ID.String(), nil
		}
	}
	id, err := s.threads.NewDB(s.ctx, "", threadsclient.DBOptions{Name: bucketsDBName})
	if err != nil {
		return "", err
	}
	return id.String(), nil
}
