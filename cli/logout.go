package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
)

// logoutCommand is hub logout: end the session on the hub and forget it.
func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End the session and forget it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.configCall(ctx, func(cfg config, dir string, c *hubclient.Client) error {
				session := a.session(cfg)
				if session == "" {
					fmt.Fprintln(a.stdout, "Not logged in.")
					return nil
				}
				sctx, err := a.withSession(ctx, cfg, false)
				if err != nil {
					return err
				}
				serr := c.Signout(sctx)
				// Forget the stored session whatever the hub said: the user asked
				// to be logged out here, and a session the hub no longer knows
				// is useless anyway.
				if cfg.Session == session {
					cfg.Session = ""
					if err := writeConfig(dir, cfg); err != nil {
						return err
					}
				}
				if serr != nil && !errors.Is(errors.Unauthenticated, serr) && !errors.Is(errors.NotExist, serr) {
					return errors.Errorf(cliOp, errors.KindOf(serr), "logged out here, but the hub did not end the session: %s", a.message(serr))
				}
				fmt.Fprintln(a.stdout, "Logged out.")
				return nil
			})
		},
	}
}
