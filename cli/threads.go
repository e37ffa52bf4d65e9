package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub"
	"github.com/selfhub/hub/client"
	threadsclient "github.com/selfhub/hub/client/threads"
	"github.com/selfhub/hub/threads"
)

// threadsCommand is hub threads: the ThreadDB databases of the account, or
// of the org given with -o. They are the DBs an app makes with the
// account's (or org's) account keys; those its users make with user group
// keys belong to the users.
func (a *app) threadsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "threads",
		Short: "Manage ThreadDB databases (of an org with -o)",
		Long: `Manage the ThreadDB databases (DBs) of your account, or of the org given
with -o: the DBs your apps reach with the account's (or org's) account
keys. DBs that an app's users make through a user group key belong to
those users and are not listed here.`,
	}
	cmd.AddCommand(a.threadsListCommand(), a.threadsCreateCommand(), a.threadsRemoveCommand(), a.threadsACLCommand())
	return cmd
}

// dbJSON is a DB as hub threads ls --json and create --json print it. The
// field names are a scripting interface; change them only by adding.
type dbJSON struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Key   string   `json:"key"`   // the thread key, multibase: it reads and writes the DB
	Addrs []string `json:"addrs"` // multiaddrs ending in /thread/<id>
}

func toDBJSON(d threadsclient.DBInfo) dbJSON {
	addrs := d.Addrs
	if addrs == nil {
		addrs = []string{}
	}
	return dbJSON{ID: d.ID.String(), Name: d.Name, Key: d.Key.String(), Addrs: addrs}
}

// threadsCall runs f with a threads client and a context carrying the
// session, and the org when -o is given.
func (a *app) threadsCall(ctx context.Context, f func(context.Context, *threadsclient.Client) error) error {
	cfg, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	ctx, err = a.withSession(ctx, cfg, true)
	if err != nil {
		return err
	}
	conn, err := client.Dial(ctx, a.addr(cfg))
	if err != nil {
		return err
	}
	defer conn.Close()
	return f(ctx, threadsclient.New(conn))
}

func (a *app) threadsListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List your DBs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.threadsCall(cmd.Context(), func(ctx context.Context, c *threadsclient.Client) error {
				dbs, err := c.ListDBs(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]dbJSON, 0, len(dbs))
					for _, d := range dbs {
						out = append(out, toDBJSON(d))
					}
					return writeJSON(a.stdout, out)
				}
				if len(dbs) == 0 {
					fmt.Fprintln(a.stderr, "No DBs; create one with hub threads create.")
					return nil
				}
				rows := make([][]string, 0, len(dbs))
				for _, d := range dbs {
					name := d.Name
					if name == "" {
						name = "-"
					}
					rows = append(rows, []string{d.ID.String(), name})
				}
				return writeTable(a.stdout, []string{"ID", "NAME"}, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) threadsCreateCommand() *cobra.Command {
	var (
		name   string
		asJSON bool
		acl    bool
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a DB and print its ID",
		Long: `Create an empty DB owned by your account, or by the org given with -o,
and print its ID. Names are optional and unique among your DBs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.threadsCall(cmd.Context(), func(ctx context.Context, c *threadsclient.Client) error {
				var id threads.ID
				var err error
				if acl {
					id, err = c.NewACLDB(ctx, hub.DBOptions{Name: name})
				} else {
					id, err = c.NewDB(ctx, "", threadsclient.DBOptions{Name: name})
				}
				if err != nil {
					return err
				}
				if !asJSON {
					fmt.Fprintln(a.stdout, id)
					return nil
				}
				info, err := c.GetDBInfo(ctx, id)
				if err != nil {
					return err
				}
				return writeJSON(a.stdout, toDBJSON(info))
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the DB")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&acl, "acl", false, "make an access-controlled DB (hub threads acl)")
	return cmd
}

func (a *app) threadsRemoveCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "rm ID",
		Aliases: []string{"remove"},
		Short:   "Delete a DB and everything in it",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseDBID(args[0])
			if err != nil {
				return err
			}
			if err := a.confirm(yes, fmt.Sprintf("Delete DB %s and everything in it? This cannot be undone.", id)); err != nil {
				return err
			}
			return a.threadsCall(cmd.Context(), func(ctx context.Context, c *threadsclient.Client) error {
				if err := c.DeleteDB(ctx, id); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Deleted DB %s.\n", id)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}
