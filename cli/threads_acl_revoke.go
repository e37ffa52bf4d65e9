package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
)

func (a *app) threadsACLRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke DB IDENTITY",
		Short: "Take every role away from an identity in a DB",
		Long: `Take every role away from IDENTITY in DB. Its logs are cut at the records
this hub holds of them: every hub refuses what it writes from then on, and
drops what it wrote that this hub had not seen yet.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseDBID(args[0])
			if err != nil {
				return err
			}
			return a.threadsCall(cmd.Context(), func(ctx context.Context, c *threadsclient.Client) error {
				if err := c.Revoke(ctx, id, hub.PubKey(args[1])); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s has no role in DB %s.\n", args[1], id)
				return nil
			})
		},
	}
}
