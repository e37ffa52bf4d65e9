package cli

import (
	"github.com/spf13/cobra"

	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/threads"
)

// threadsACLCommand is hub threads acl: the access control list of an
// access-controlled DB (hub threads create --acl makes one).
func (a *app) threadsACLCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Manage who may read and write an access-controlled DB",
		Long: `Manage the access control list of an access-controlled DB (made with
hub threads create --acl): the identities of your app that may reach it and
their roles. Roles: admin (writes, and grants readers and writers), writer
(reads and writes), reader (reads), none. Every hub that replicates the DB
refuses the records of identities the list does not let write.`,
	}
	cmd.AddCommand(a.threadsACLListCommand(), a.threadsACLGrantCommand(), a.threadsACLRevokeCommand())
	return cmd
}

// parseDBID reads a DB ID argument.
func parseDBID(arg string) (threads.ID, error) {
	id, err := threads.Decode(arg)
	if err != nil {
		return "", errors.Errorf(cliOp, errors.Invalid, "%s; copy the ID from hub threads ls", errors.Message(err))
	}
	return id, nil
}
