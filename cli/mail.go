package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spf13/cobra"

	"github.com/selfhub/hub"
	threadsclient "github.com/selfhub/hub/client/threads"
	usersclient "github.com/selfhub/hub/client/users"
	"github.com/selfhub/hub/errors"
	"github.com/selfhub/hub/identity"
)

// Names in the mailbox DB, as the server and @textile/hub's Users use them.
const (
	mailDBName  = "hubmail"
	inboxName   = "inbox"
	sentboxName = "sentbox"
)

// mailCommand is hub mail: the mailbox of an app user's identity.
func (a *app) mailCommand() *cobra.Command {
	f := &userFlags{}
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "Send and read end-to-end encrypted messages as an app user's identity",
		Long: `Send and read end-to-end encrypted messages between the users of an app.

hub mail acts as an identity (an Ed25519 private key in the file given with
--identity, HUB_HOME/identity by default; make one with hub mail setup
--new-identity) through an app's user group key (--key and --secret, or
HUB_KEY and HUB_SECRET). Messages are encrypted on this machine, to the
recipient and to you; the hub stores only ciphertext. The token the hub
issues for the identity is cached in HUB_HOME/tokens.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.identity, "identity", "", "file holding the identity's private key (default HUB_HOME/identity)")
	pf.StringVar(&f.key, "key", "", "the app's user group API key")
	pf.StringVar(&f.secret, "secret", "", "the API key's secret (none for a non-signing key)")
	cmd.AddCommand(
		a.mailSetupCommand(f),
		a.mailSendCommand(f),
		a.mailListCommand(f),
		a.mailReadCommand(f),
		a.mailRemoveCommand(f),
		a.mailWatchCommand(f),
	)
	return cmd
}

// newIdentity makes an identity and writes it to file (mode 0600). It
// never replaces an existing file: that would lose the key that opens the
// mailbox.
func newIdentity(file string) (crypto.PrivKey, error) {
	const op errors.Op = "cli.newIdentity"
	priv, err := identity.New()
	if err != nil {
		return nil, err
	}
	b, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	fh, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if os.IsExist(err) {
		return nil, errors.Errorf(op, errors.Exist, "%s already holds an identity; drop --new-identity to use it, or name another file with --identity", file)
	}
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		os.Remove(file)
		return nil, errors.E(op, errors.Internal, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		os.Remove(file)
		return nil, errors.E(op, errors.Internal, err)
	}
	if err := fh.Close(); err != nil {
		os.Remove(file)
		return nil, errors.E(op, errors.Internal, err)
	}
	return priv, nil
}

// mailbox returns the ID of the identity's mailbox DB.
func (u *userSession) mailbox() (threadsclient.ID, error) {
	th, err := u.uc.GetThread(u.ctx, mailDBName)
	if err != nil {
		return "", err
	}
	return th.ID, nil
}

func (a *app) mailSetupCommand(f *userFlags) *cobra.Command {
	var (
		newID  bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create the identity's mailbox (and, with --new-identity, the identity)",
		Long: `Create the identity's mailbox in the app, or find the one it has, and
print the identity's public key (what senders address messages to) and the
mailbox's DB ID. With --new-identity, first make a new identity and write
its private key to the --identity file (mode 0600); an existing file is
never replaced.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Checked before a new identity is written, so a mistake
			// leaves nothing behind.
			if err := f.check(); err != nil {
				return err
			}
			var priv crypto.PrivKey
			if newID {
				file, err := a.identityFile(f)
				if err != nil {
					return err
				}
				if priv, err = newIdentity(file); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "Wrote a new identity to %s; keep it safe: it alone opens the mailbox.\n", file)
			}
			return a.userCall(cmd.Context(), f, priv, func(u *userSession) error {
				id, err := u.uc.SetupMailbox(u.ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, map[string]string{"identity": string(u.pub), "mailbox": id.String()})
				}
				fmt.Fprintf(a.stdout, "identity %s\nmailbox  %s\n", u.pub, id)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&newID, "new-identity", false, "make a new identity and write it to the --identity file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) mailSendCommand(f *userFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "send TO_PUBKEY [FILE|-]",
		Short: "Send a message read from FILE, or from stdin",
		Long: `Encrypt the message in FILE (stdin when FILE is - or absent) to the
identity TO_PUBKEY and to yourself, sign both copies, send it, and print its
ID. The recipient must have set up a mailbox in the same app.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := identity.Parse(hub.PubKey(args[0]))
			if err != nil {
				return errors.Errorf(cliOp, errors.Invalid, "recipient: %s; pass the public key hub mail setup printed for them", errors.Message(err))
			}
			body, err := a.readBody(args[1:])
			if err != nil {
				return err
			}
			return a.userCall(cmd.Context(), f, nil, func(u *userSession) error {
				sent, err := usersclient.Send(u.ctx, u.uc, u.priv, to, body)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, map[string]string{"id": sent.ID, "created_at": nsTime(sent.CreatedAt)})
				}
				fmt.Fprintln(a.stdout, sent.ID)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// readBody reads a message from the file named in args, or from stdin.
func (a *app) readBody(args []string) ([]byte, error) {
	if len(args) == 0 || args[0] == "-" {
		if a.stdin == nil {
			return nil, errors.E(cliOp, errors.Invalid, "no message: name a file, or pipe the message to stdin")
		}
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return nil, errors.Errorf(cliOp, errors.Internal, "reading the message from stdin: %v", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return nil, errors.Errorf(cliOp, errors.Invalid, "reading the message: %v", err)
	}
	return b, nil
}

// messageJSON is a message as hub mail ls --json and watch --json print
// it. The field names are a scripting interface; change them only by
// adding.
type messageJSON struct {
	ID        string `json:"id"`
	From      string `json:"from"`
	To        string `json:"to"`
	CreatedAt string `json:"created_at"`        // RFC 3339, ns
	ReadAt    string `json:"read_at,omitempty"` // RFC 3339, ns; absent while unread (and in a sentbox)
	Body      string `json:"body"`              // decrypted; empty when Error is set
	Error     string `json:"error,omitempty"`   // why the body did not open
	Seq       uint64 `json:"seq,omitempty"`     // watch only: pass to --after to resume after it
}

// toMessageJSON decrypts m with priv.
func toMessageJSON(priv crypto.PrivKey, m usersclient.Message) messageJSON {
	j := messageJSON{ID: m.ID, From: string(m.From), To: string(m.To), CreatedAt: nsTime(m.CreatedAt)}
	if m.ReadAt != 0 {
		j.ReadAt = nsTime(m.ReadAt)
	}
	body, err := usersclient.Open(priv, m)
	if err != nil {
		j.Error = errors.Message(err)
	} else {
		j.Body = string(body)
	}
	return j
}

// nsTime formats Unix ns for output.
func nsTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// parseBox reads the inbox|sentbox argument.
func parseBox(s string) (inbox bool, err error) {
	switch s {
	case inboxName:
		return true, nil
	case sentboxName:
		return false, nil
	}
	return false, errors.Errorf(cliOp, errors.Invalid, "%q is not a box; use inbox or sentbox", s)
}

func (a *app) mailListCommand(f *userFlags) *cobra.Command {
	var (
		unread bool
		asJSON bool
		limit  int
	)
	cmd := &cobra.Command{
		Use:     "ls inbox|sentbox",
		Aliases: []string{"list"},
		Short:   "List the messages in your inbox or sentbox, newest first",
		Long: `List the messages in your inbox or sentbox, newest first: at most --limit
of them (0 for all). The table shows who sent them (or, for the sentbox, to
whom), when, and whether they were read; --json adds the decrypted bodies.
Listing does not mark messages read; hub mail read does.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inbox, err := parseBox(args[0])
			if err != nil {
				return err
			}
			if unread && !inbox {
				return errors.E(cliOp, errors.Invalid, "a sentbox has no read status; --unread applies to the inbox")
			}
			if limit < 0 {
				return errors.Errorf(cliOp, errors.Invalid, "--limit %d; pass the number of messages to list, or 0 for all", limit)
			}
			return a.userCall(cmd.Context(), f, nil, func(u *userSession) error {
				msgs, err := u.list(inbox, unread, limit)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]messageJSON, len(msgs))
					for i, msg := range msgs {
						out[i] = toMessageJSON(u.priv, msg)
					}
					return writeJSON(a.stdout, out)
				}
				if len(msgs) == 0 {
					fmt.Fprintf(a.stderr, "No messages in your %s.\n", args[0])
					return nil
				}
				header := []string{"ID", "FROM", "SENT", "READ"}
				if !inbox {
					header = []string{"ID", "TO", "SENT"}
				}
				rows := make([][]string, len(msgs))
				for i, msg := range msgs {
					sent := time.Unix(0, msg.CreatedAt).Local().Format(time.DateTime)
					if inbox {
						rows[i] = []string{msg.ID, string(msg.From), sent, yesNo(msg.ReadAt != 0)}
					} else {
						rows[i] = []string{msg.ID, string(msg.To), sent}
					}
				}
				return writeTable(a.stdout, header, rows)
			})
		},
	}
	cmd.Flags().BoolVar(&unread, "unread", false, "only unread messages (inbox)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, with the decrypted bodies")
	cmd.Flags().IntVar(&limit, "limit", 100, "most messages to list; 0 for all")
	return cmd
}

// maxPage is the largest page the hub serves (docs/protocol.md, "Mailboxes").
const maxPage = 10000

// list pages through a box, newest first, until it has limit messages (all
// when limit is 0) or the box ends.
func (u *userSession) list(inbox, unread bool, limit int) ([]usersclient.Message, error) {
	var out []usersclient.Message
	opts := usersclient.ListOptions{}
	if unread {
		opts.Status = usersclient.Unread
	}
	for {
		opts.Limit = maxPage
		if limit > 0 {
			opts.Limit = min(maxPage, limit-len(out))
		}
		var page []usersclient.Message
		var err error
		if inbox {
			page, err = u.uc.ListInboxMessages(u.ctx, opts)
		} else {
			page, err = u.uc.ListSentboxMessages(u.ctx, opts)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < opts.Limit || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		opts.Seek = page[len(page)-1].ID
	}
}

func (a *app) mailReadCommand(f *userFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "read ID",
		Short: "Print an inbox message's decrypted body and mark it read",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			return a.userCall(cmd.Context(), f, nil, func(u *userSession) error {
				// Marking first gives the hub's own answer for an ID
				// that is not in the inbox.
				if _, err := u.uc.ReadInboxMessage(u.ctx, id); err != nil {
					return err
				}
				box, err := u.mailbox()
				if err != nil {
					return err
				}
				raw, err := u.tc.FindByID(u.ctx, box, inboxName, id)
				if err != nil {
					return err
				}
				msg, err := decodeInstance(raw)
				if err != nil {
					return err
				}
				body, err := usersclient.Open(u.priv, msg)
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(body)
				return err
			})
		},
	}
}

// decodeInstance decodes a message instance as ThreadDB holds it: bodies
// and signatures in base64, times as JSON numbers (ThreadDB keeps numbers
// as float64, and the hub stamps times that a float64 holds exactly).
func decodeInstance(raw []byte) (usersclient.Message, error) {
	const op errors.Op = "cli.decodeInstance"
	var in struct {
		ID        string     `json:"_id"`
		From      hub.PubKey `json:"from"`
		To        hub.PubKey `json:"to"`
		Body      []byte     `json:"body"`
		Signature []byte     `json:"signature"`
		CreatedAt float64    `json:"created_at"`
		ReadAt    float64    `json:"read_at"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return usersclient.Message{}, errors.Errorf(op, errors.Internal, "the hub sent a message that is not one: %v", err)
	}
	return usersclient.Message{ID: in.ID, From: in.From, To: in.To, Body: in.Body, Signature: in.Signature,
		CreatedAt: int64(in.CreatedAt), ReadAt: int64(in.ReadAt)}, nil
}

func (a *app) mailRemoveCommand(f *userFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "rm inbox|sentbox ID",
		Aliases: []string{"remove"},
		Short:   "Delete a message from your inbox or sentbox",
		Long: `Delete a message from your inbox or sentbox. The other party's copy is
theirs and stays.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			inbox, err := parseBox(args[0])
			if err != nil {
				return err
			}
			return a.userCall(cmd.Context(), f, nil, func(u *userSession) error {
				if inbox {
					err = u.uc.DeleteInboxMessage(u.ctx, args[1])
				} else {
					err = u.uc.DeleteSentboxMessage(u.ctx, args[1])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Deleted message %s from your %s.\n", args[1], args[0])
				return nil
			})
		},
	}
}

func (a *app) mailWatchCommand(f *userFlags) *cobra.Command {
	var (
		asJSON bool
		after  uint64
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print new inbox messages, decrypted, as they arrive",
		Long: `Print each message that arrives in your inbox, decrypted, until
interrupted. Messages are not marked read. --json prints one JSON object a
line, with a seq: pass the last one to --after to resume where a watch
stopped without missing a message (the hub keeps a bounded history).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			return a.userCall(ctx, f, nil, func(u *userSession) error {
				box, err := u.mailbox()
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "Watching the inbox of %s; interrupt to stop.\n", u.pub)
				filters := []threadsclient.ListenFilter{{Collection: inboxName, Action: threadsclient.ActionCreate}}
				err = u.tc.Listen(u.ctx, box, filters, after, func(ev threadsclient.ListenEvent) error {
					msg, err := decodeInstance(ev.Instance)
					if err != nil {
						return err
					}
					j := toMessageJSON(u.priv, msg)
					j.Seq = ev.Seq
					if asJSON {
						b, err := json.Marshal(j)
						if err != nil {
							return errors.E(cliOp, errors.Internal, err)
						}
						_, err = a.stdout.Write(append(b, '\n'))
						return err
					}
					body := j.Body
					if j.Error != "" {
						body = "(cannot open: " + j.Error + ")"
					}
					_, err = fmt.Fprintf(a.stdout, "From %s at %s (ID %s, seq %s):\n%s\n\n", j.From, j.CreatedAt, j.ID, strconv.FormatUint(ev.Seq, 10), body)
					return err
				})
				if ctx.Err() != nil {
					return nil // interrupted: the way a watch ends
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object a line")
	cmd.Flags().Uint64Var(&after, "after", 0, "resume after the message with this seq (from --json)")
	return cmd
}
