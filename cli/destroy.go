package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	hubclient "github.com/selfhub/hub/client/hub"
)

// destroyCommand is hub destroy: delete the logged-in account.
func (a *app) destroyCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "destroy",
		Short: "Delete your account and everything it owns",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.configCall(cmd.Context(), func(cfg config, dir string, c *hubclient.Client) error {
				ctx, err := a.withSession(cmd.Context(), cfg, false)
				if err != nil {
					return err
				}
				// Name the account in the question from the hub, not the config:
				// HUB_SESSION may point at another one.
				info, err := c.SessionInfo(ctx)
				if err != nil {
					return err
				}
				if err := a.confirm(yes, fmt.Sprintf("Destroy account %s and everything it owns? This cannot be undone.", info.Username)); err != nil {
					return err
				}
				if err := c.DestroyAccount(ctx); err != nil {
					return err
				}
				if cfg.Key == info.Key {
					cfg = config{API: cfg.API}
					if err := writeConfig(dir, cfg); err != nil {
						return err
					}
				}
				fmt.Fprintf(a.stdout, "Destroyed account %s.\n", info.Username)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}
