package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
)

// loginCommand is hub login: open a session for an existing account.
func (a *app) loginCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "login [USERNAME_OR_EMAIL]",
		Short: "Log in to an existing account",
		Long: `Open a session for an existing developer account and store it.

Without an argument, hub asks for the username or email. The hub may email
a confirmation link and wait for it to be followed before the login completes.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			who, err := a.askFlag(optionalArg(args, 0), "a USERNAME_OR_EMAIL argument", "Username or email: ")
			if err != nil {
				return err
			}
			return a.configCall(ctx, func(cfg config, dir string, c *hubclient.Client) error {
				fmt.Fprintf(a.stderr, "Logging in as %s; if the hub emails you a confirmation link, follow it to finish.\n", who)
				s, err := c.Signin(ctx, who)
				if err != nil {
					return err
				}
				info, err := c.SessionInfo(client.WithSession(ctx, s.ID))
				if err != nil {
					return err
				}
				cfg = config{API: a.addr(cfg), Session: s.ID, Username: info.Username, Email: info.Email, Key: s.Key}
				if err := writeConfig(dir, cfg); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Logged in as %s <%s>.\n", info.Username, info.Email)
				return nil
			})
		},
	}
}
