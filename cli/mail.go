package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/selfhub/hub/client"
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

// identityName is the identity file in HUB_HOME used when --identity is
// not given.
const identityName = "identity"

// tokensDir is the directory in HUB_HOME that caches one user token per
// identity.
const tokensDir = "tokens"

// mailFlags are the flags every hub mail command shares: who acts, and
// through which app.
type mailFlags struct {
	identity string // --identity: libp2p-marshalled Ed25519 private key file
	key      string // --key: the app's user group key
	secret   string // --secret: its secret; empty for a non-signing key
}

// check fails unless an API key was given.
func (f *mailFlags) check() error {
	if f.key == "" {
		return errors.E(cliOp, errors.Invalid, "hub mail acts through an app's user group key; pass --key and --secret, or set HUB_KEY and HUB_SECRET")
	}
	return nil
}

// mailCommand is hub mail: the mailbox of an app user's identity.
func (a *app) mailCommand() *cobra.Command {
	f := &mailFlags{}
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

// mailer is one identity's connection to its mailbox.
type mailer struct {
	priv crypto.PrivKey
	pub  hub.PubKey
	ctx  context.Context // carries the API key and the identity's token
	uc   *usersclient.Client
	tc   *threadsclient.Client
}

// identityFile returns the path of the identity file to use.
func (a *app) identityFile(f *mailFlags) (string, error) {
	if f.identity != "" {
		return f.identity, nil
	}
	dir, err := configDir(a.env)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, identityName), nil
}

// loadIdentity reads the private key in file.
func loadIdentity(file string) (crypto.PrivKey, error) {
	const op errors.Op = "cli.loadIdentity"
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil, errors.Errorf(op, errors.NotExist, "no identity in %s; make one with hub mail setup --new-identity, or point --identity at yours", file)
	}
	if err != nil {
		return nil, errors.E(op, errors.Internal, err)
	}
	priv, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, errors.Errorf(op, errors.Invalid, "%s is not a libp2p-marshalled private key (%v)", file, err)
	}
	if priv.Type() != crypto.Ed25519 {
		return nil, errors.Errorf(op, errors.Invalid, "the key in %s is not Ed25519; mailboxes need an Ed25519 identity", file)
	}
	return priv, nil
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

// cachedToken is a token file in HUB_HOME/tokens. A token is valid only
// with the API key of the app it was issued for, on the hub that issued
// it, so those are kept with it and a mismatch fetches a new one.
type cachedToken struct {
	API   string `json:"api"`
	Key   string `json:"key"`
	Token string `json:"token"`
}

// tokenFile returns where the token of pub is cached.
func (a *app) tokenFile(pub hub.PubKey) (string, error) {
	dir, err := configDir(a.env)
	if err != nil {
		return "", err
	}
	// Public key strings are long; a digest keeps file names short.
	sum := sha256.Sum256([]byte(pub))
	return filepath.Join(dir, tokensDir, hex.EncodeToString(sum[:16])+".json"), nil
}

// readToken returns the cached token of pub for api and key, or "".
func (a *app) readToken(pub hub.PubKey, api, key string) string {
	file, err := a.tokenFile(pub)
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var c cachedToken
	if json.Unmarshal(b, &c) != nil || c.API != api || c.Key != key {
		return ""
	}
	return c.Token
}

// writeToken caches a token (mode 0600: it is a bearer credential). A
// failure only costs a GetToken next time, so it is not an error.
func (a *app) writeToken(pub hub.PubKey, c cachedToken) {
	file, err := a.tokenFile(pub)
	if err != nil {
		return
	}
	b, err := json.Marshal(c)
	if err != nil || os.MkdirAll(filepath.Dir(file), 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".*")
	if err != nil {
		return
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err != nil || cerr != nil {
		return
	}
	os.Rename(tmp.Name(), file)
}

// dropToken forgets pub's cached token.
func (a *app) dropToken(pub hub.PubKey) {
	if file, err := a.tokenFile(pub); err == nil {
		os.Remove(file)
	}
}

// mailCall runs fn as the identity, with a token from the cache or, if
// there is none, from GetToken. A cached token the hub refuses (expired,
// revoked, or from a wiped hub) is replaced and fn runs once more: a
// refused call changed nothing.
func (a *app) mailCall(ctx context.Context, f *mailFlags, priv crypto.PrivKey, fn func(*mailer) error) error {
	if err := f.check(); err != nil {
		return err
	}
	cfg, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	if priv == nil {
		file, err := a.identityFile(f)
		if err != nil {
			return err
		}
		if priv, err = loadIdentity(file); err != nil {
			return err
		}
	}
	pub, err := identity.String(priv.GetPublic())
	if err != nil {
		return err
	}
	addr := a.addr(cfg)
	conn, err := client.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	keyCtx, err := client.WithAPIKey(ctx, f.key, f.secret)
	if err != nil {
		return err
	}
	m := &mailer{priv: priv, pub: pub, uc: usersclient.New(conn), tc: threadsclient.New(conn)}
	token := a.readToken(pub, addr, f.key)
	cached := token != ""
	for {
		if token == "" {
			if token, err = m.tc.GetToken(keyCtx, priv); err != nil {
				return err
			}
			a.writeToken(pub, cachedToken{API: addr, Key: f.key, Token: token})
		}
		m.ctx = client.WithToken(keyCtx, token)
		err = fn(m)
		if cached && errors.Is(errors.Unauthenticated, err) {
			a.dropToken(pub)
			token, cached = "", false
			continue
		}
		return err
	}
}

// mailbox returns the ID of the identity's mailbox DB.
func (m *mailer) mailbox() (threadsclient.ID, error) {
	th, err := m.uc.GetThread(m.ctx, mailDBName)
	if err != nil {
		return "", err
	}
	return th.ID, nil
}

func (a *app) mailSetupCommand(f *mailFlags) *cobra.Command {
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
			return a.mailCall(cmd.Context(), f, priv, func(m *mailer) error {
				id, err := m.uc.SetupMailbox(m.ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, map[string]string{"identity": string(m.pub), "mailbox": id.String()})
				}
				fmt.Fprintf(a.stdout, "identity %s\nmailbox  %s\n", m.pub, id)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&newID, "new-identity", false, "make a new identity and write it to the --identity file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) mailSendCommand(f *mailFlags) *cobra.Command {
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
			return a.mailCall(cmd.Context(), f, nil, func(m *mailer) error {
				sent, err := m.uc.SendMessage(m.ctx, m.priv, to, body)
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

func (a *app) mailListCommand(f *mailFlags) *cobra.Command {
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
			return a.mailCall(cmd.Context(), f, nil, func(m *mailer) error {
				msgs, err := m.list(inbox, unread, limit)
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]messageJSON, len(msgs))
					for i, msg := range msgs {
						out[i] = toMessageJSON(m.priv, msg)
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

// maxPage is the largest page the hub serves (PROTOCOL.md: max 10,000).
const maxPage = 10000

// list pages through a box, newest first, until it has limit messages (all
// when limit is 0) or the box ends.
func (m *mailer) list(inbox, unread bool, limit int) ([]usersclient.Message, error) {
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
			page, err = m.uc.ListInboxMessages(m.ctx, opts)
		} else {
			page, err = m.uc.ListSentboxMessages(m.ctx, opts)
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

func (a *app) mailReadCommand(f *mailFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "read ID",
		Short: "Print an inbox message's decrypted body and mark it read",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			return a.mailCall(cmd.Context(), f, nil, func(m *mailer) error {
				// Marking first gives the hub's own answer for an ID
				// that is not in the inbox.
				if _, err := m.uc.ReadInboxMessage(m.ctx, id); err != nil {
					return err
				}
				box, err := m.mailbox()
				if err != nil {
					return err
				}
				raw, err := m.tc.FindByID(m.ctx, box, inboxName, id)
				if err != nil {
					return err
				}
				msg, err := decodeInstance(raw)
				if err != nil {
					return err
				}
				body, err := usersclient.Open(m.priv, msg)
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
		return usersclient.Message{}, errors.Errorf(errors.Op("cli.decodeInstance"), errors.Internal, "the hub sent a message that is not one: %v", err)
	}
	return usersclient.Message{ID: in.ID, From: in.From, To: in.To, Body: in.Body, Signature: in.Signature,
		CreatedAt: int64(in.CreatedAt), ReadAt: int64(in.ReadAt)}, nil
}

func (a *app) mailRemoveCommand(f *mailFlags) *cobra.Command {
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
			return a.mailCall(cmd.Context(), f, nil, func(m *mailer) error {
				if inbox {
					err = m.uc.DeleteInboxMessage(m.ctx, args[1])
				} else {
					err = m.uc.DeleteSentboxMessage(m.ctx, args[1])
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

func (a *app) mailWatchCommand(f *mailFlags) *cobra.Command {
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
			return a.mailCall(ctx, f, nil, func(m *mailer) error {
				box, err := m.mailbox()
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "Watching the inbox of %s; interrupt to stop.\n", m.pub)
				filters := []threadsclient.ListenFilter{{Collection: inboxName, Action: threadsclient.ActionCreate}}
				err = m.tc.Listen(m.ctx, box, filters, after, func(ev threadsclient.ListenEvent) error {
					msg, err := decodeInstance(ev.Instance)
					if err != nil {
						return err
					}
					j := toMessageJSON(m.priv, msg)
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
