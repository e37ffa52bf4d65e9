package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
)

// initCommand is hub init: sign up for a developer account and log in.
func (a *app) initCommand() *cobra.Command {
	var username, email string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Sign up for a developer account and log in",
		Long: `Sign up for a developer account on the hub and store the new session.

Without --username and --email, hub asks for them. The hub may email a
confirmation link and wait for it to be followed before the sign-up completes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.configCall(ctx, func(cfg config, dir string, c *hubclient.Client) error {
				for username == "" {
					u, err := a.askFlag(username, "--username", "Choose a username: ")
					if err != nil {
						return err
					}
					// Checking now saves typing an email for a name that is taken.
					if err := c.IsUsernameAvailable(ctx, u); err != nil {
						if !errors.Is(errors.Exist, err) && !errors.Is(errors.Invalid, err) {
							return err
						}
						fmt.Fprintf(a.stderr, "%s\n", a.message(err))
						continue
					}
					username = u
				}
				var err error
				if email, err = a.askFlag(email, "--email", "Email address: "); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "Signing up as %s; if the hub emails %s a confirmation link, follow it to finish.\n", username, email)
				s, err := c.Signup(ctx, username, email)
				if err != nil {
					return err
				}
				cfg = config{API: a.addr(cfg), Session: s.ID, Username: username, Email: email, Key: s.Key}
				if err := writeConfig(dir, cfg); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Signed up and logged in as %s <%s>.\nAccount key: %s\n", username, email, s.Key)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "username to sign up with")
	cmd.Flags().StringVar(&email, "email", "", "email address to sign up with")
	return cmd
}
