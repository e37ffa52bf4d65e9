package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
)

func (a *app) threadsACLGrantCommand() *cobra.Command {
	var logs []string
	cmd := &cobra.Command{
		Use:   "grant DB IDENTITY ROLE",
		Short: "Give an identity a role (admin, writer, reader or none) in a DB",
		Long: `Give IDENTITY (a public key string) ROLE in DB: admin, writer, reader or
none. A role that writes is granted with the logs given by --log (peer IDs
of logs another hub made for the identity), or with a log this hub makes:
the identity then writes through this hub. Only the DB's owner grants or
takes away admin.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseDBID(args[0])
			if err != nil {
				return err
			}
			return a.threadsCall(cmd.Context(), func(ctx context.Context, c *threadsclient.Client) error {
				if err := c.Grant(ctx, id, hub.PubKey(args[1]), args[2], logs); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s is %s in DB %s.\n", args[1], args[2], id)
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&logs, "log", nil, "a log the identity writes with (repeatable)")
	return cmd
}
