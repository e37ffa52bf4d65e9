package cli

import (
	"context"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub/client"
	bucketsclient "github.com/selfhub/hub/client/buckets"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/errors"
)

// buckFlags are the flags every hub buck command shares: the bucket
// folder, and who acts when it is not the logged-in developer.
type buckFlags struct {
	dir  string    // --dir: the bucket folder, or a folder inside it
	user userFlags // --key, --secret, --identity: act as an app user's identity
}

// buckCommand is hub buck: a folder on this machine kept in step with a
// bucket.
func (a *app) buckCommand() *cobra.Command {
	f := &buckFlags{}
	cmd := &cobra.Command{
		Use:   "buck",
		Short: "Keep a folder in step with a bucket: push, pull, share",
		Long: `Keep a folder on this machine in step with a bucket on the hub.

hub buck init links the folder to a new or existing bucket and keeps what it
needs in the folder's .buck directory: the bucket, its DB, and the state of
the last push or pull, against which push and status find what changed.
Other commands find the bucket from the folder they run in (or --dir, or a
folder above it). A .buckignore file at the folder's top lists, in
.gitignore syntax, what push leaves out.

Commands act as the logged-in developer, as the org given with -o (init
remembers it), or, with --key (and --secret), as the app user whose
identity is in the --identity file (HUB_HOME/identity by default; hub mail
setup --new-identity makes one).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.dir, "dir", ".", "the bucket folder (or a folder inside it)")
	pf.StringVar(&f.user.key, "key", "", "act as an app user: the app's user group API key")
	pf.StringVar(&f.user.secret, "secret", "", "the API key's secret (none for a non-signing key)")
	pf.StringVar(&f.user.identity, "identity", "", "with --key: file holding the user's private key (default HUB_HOME/identity)")
	cmd.AddCommand(
		a.buckInitCommand(f),
		a.buckListCommand(f),
		a.buckCatCommand(f),
		a.buckPushCommand(f),
		a.buckPullCommand(f),
		a.buckStatusCommand(f),
		a.buckLinksCommand(f),
		a.buckRootCommand(f),
		a.buckRolesCommand(f),
		a.buckDestroyCommand(f),
		a.buckAddCommand(f),
		a.buckWatchCommand(f),
		a.buckExistingCommand(f),
		a.buckEncryptCommand(),
		a.buckDecryptCommand(),
	)
	return cmd
}

// buckSession is one connection to the hub, with a context that carries
// who acts and the bucket's DB.
type buckSession struct {
	ctx context.Context
	c   *bucketsclient.Client
	// threads is a threads client on the same connection, for finding
	// or making the DB that holds buckets.
	threads *threadsclient.Client
}

// buckCall runs fn with a session as whoever the flags name: the app user
// with --key, else the developer's session (and the org from -o, else
// the one init stored in org). thread, when not empty, is the DB the
// calls apply to.
func (a *app) buckCall(ctx context.Context, f *buckFlags, org, thread string, fn func(*buckSession) error) error {
	cfg, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	run := func(ctx context.Context, c *bucketsclient.Client, tc *threadsclient.Client) error {
		if thread != "" {
			ctx = client.WithThread(ctx, thread)
		}
		return fn(&buckSession{ctx: ctx, c: c, threads: tc})
	}
	if f.user.key != "" {
		return a.userCall(ctx, &f.user, nil, func(u *userSession) error { return run(u.ctx, u.bc, u.tc) })
	}
	if ctx, err = a.withSession(ctx, cfg, false); err != nil {
		return err
	}
	if a.org != "" {
		org = a.org
	}
	if org != "" {
		ctx = client.WithOrg(ctx, org)
	}
	conn, err := client.Dial(ctx, a.addr(cfg))
	if err != nil {
		return err
	}
	defer conn.Close()
	return run(ctx, bucketsclient.New(conn), threadsclient.New(conn))
}

// openFolder finds the bucket folder at or above --dir and reads its
// config and state.
func (a *app) openFolder(f *buckFlags) (*folder, error) {
	dir, err := filepath.Abs(f.dir)
	if err != nil {
		return nil, errors.E(cliOp, errors.Invalid, err)
	}
	return findFolder(dir)
}

// folderCall opens the bucket folder and runs fn in a session on its
// bucket's DB.
func (a *app) folderCall(ctx context.Context, f *buckFlags, fn func(*folder, *buckSession) error) error {
	fd, err := a.openFolder(f)
	if err != nil {
		return err
	}
	return a.buckCall(ctx, f, fd.cfg.Org, fd.cfg.Thread, func(s *buckSession) error { return fn(fd, s) })
}
