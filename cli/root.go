// Package cli implements the hub command: a developer's tool for signing up,
// managing sessions, organizations, API keys and ThreadDB databases on a
// hubd server. It talks to the server only through the Go clients in
// client/, keeps no global state, and writes to the streams and reads the
// environment it is given, so tests run it in-process.
package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/selfhub/hub/client"
	hubclient "github.com/selfhub/hub/client/hub"
	"github.com/selfhub/hub/errors"
)

// DefaultAPI is the address of hubd's gRPC API used when neither --api,
// HUB_API nor the config file names one.
const DefaultAPI = "127.0.0.1:3006"

// cliOp is the op of errors found by the command itself rather than the
// server.
const cliOp errors.Op = "cli"

// envPrefix starts the environment variable that stands in for each flag:
// --api is HUB_API, --org is HUB_ORG, --json is HUB_JSON.
const envPrefix = "HUB_"

// app is the state of one run of the command: its streams, environment and
// the values of the global flags.
type app struct {
	stdin  io.Reader
	in     *bufio.Reader // buffers stdin across prompts; made on first use
	stdout io.Writer
	stderr io.Writer
	env    func(string) string

	api         string // --api
	apiExplicit bool   // --api or HUB_API was given, so it beats the config file
	org         string // --org
}

// New returns the hub command. It reads answers to prompts from stdin,
// writes results to stdout and prompts and notes to stderr, and reads
// HUB_* settings through env (os.Getenv in production). The command does
// not print the error it returns; Run does.
func New(stdin io.Reader, stdout, stderr io.Writer, env func(string) string) *cobra.Command {
	return newApp(stdin, stdout, stderr, env).command()
}

// Run runs the hub command with args (without the program name), prints
// any error as "Error: <message>" to stderr, and returns the process exit
// status: 0 on success, 1 on error. An interrupt cancels the running call.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	a := newApp(stdin, stdout, stderr, env)
	cmd := a.command()
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", a.message(err))
		return 1
	}
	return 0
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, env func(string) string) *app {
	if env == nil {
		env = func(string) string { return "" }
	}
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
}

func (a *app) command() *cobra.Command {
	root := &cobra.Command{
		Use:   "hub",
		Short: "Manage your account, organizations, API keys and DBs on a Hub server",
		Long: `hub manages your developer account, organizations, API keys and
ThreadDB databases on a Hub server (hubd).

Every flag can also be set in the environment: --api is HUB_API, --org is
HUB_ORG, --json is HUB_JSON, and so on. HUB_HOME is the directory where hub
keeps its config and session (default ~/.hub), and HUB_SESSION overrides
the stored session.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.bindEnv(cmd.Flags()); err != nil {
				return err
			}
			a.apiExplicit = cmd.Flags().Changed("api")
			return nil
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&a.api, "api", DefaultAPI, "address (host:port) of the hubd gRPC API")
	pf.StringVarP(&a.org, "org", "o", "", "act as the organization with this slug")
	root.AddCommand(
		a.initCommand(),
		a.loginCommand(),
		a.logoutCommand(),
		a.whoamiCommand(),
		a.destroyCommand(),
		a.keysCommand(),
		a.orgsCommand(),
		a.threadsCommand(),
		a.mailCommand(),
		a.buckCommand(),
		a.versionCommand(),
	)
	return root
}

// bindEnv sets each flag the command line left unset from its HUB_*
// variable, so flags, environment and documentation share one set of names.
func (a *app) bindEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := a.env(name)
		if v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = errors.Errorf(cliOp, errors.Invalid, "%s=%q: %v", name, v, e)
		}
	})
	return err
}

// addr returns the hubd address to use: --api or HUB_API, else the one
// stored at login, else DefaultAPI.
func (a *app) addr(cfg config) string {
	if !a.apiExplicit && cfg.API != "" {
		return cfg.API
	}
	return a.api
}

// hubClient dials hubd and returns an account API client and the function
// that closes its connection.
func (a *app) hubClient(ctx context.Context, cfg config) (*hubclient.Client, func(), error) {
	conn, err := client.Dial(ctx, a.addr(cfg))
	if err != nil {
		return nil, nil, err
	}
	return hubclient.New(conn), func() { conn.Close() }, nil
}

// session returns the session ID to use: HUB_SESSION, else the stored one.
func (a *app) session(cfg config) string {
	if s := a.env(envPrefix + "SESSION"); s != "" {
		return s
	}
	return cfg.Session
}

// withSession returns ctx carrying the session, and the org when withOrg
// is set and --org was given. It fails if there is no session.
func (a *app) withSession(ctx context.Context, cfg config, withOrg bool) (context.Context, error) {
	s := a.session(cfg)
	if s == "" {
		return nil, errors.E(cliOp, errors.Unauthenticated, "not logged in; run hub login (or hub init to sign up)")
	}
	ctx = client.WithSession(ctx, s)
	if withOrg && a.org != "" {
		ctx = client.WithOrg(ctx, a.org)
	}
	return ctx, nil
}

// configCall runs f with the stored config, the folder it is stored in
// (for f to write it back) and a client of the hubd it names.
func (a *app) configCall(ctx context.Context, f func(cfg config, dir string, c *hubclient.Client) error) error {
	cfg, dir, err := a.loadConfig()
	if err != nil {
		return err
	}
	c, done, err := a.hubClient(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	return f(cfg, dir, c)
}

// sessionCall runs f with a client of hubd and a context carrying the
// session, and the org too when withOrg is set and --org was given.
func (a *app) sessionCall(ctx context.Context, withOrg bool, f func(context.Context, *hubclient.Client) error) error {
	return a.configCall(ctx, func(cfg config, _ string, c *hubclient.Client) error {
		ctx, err := a.withSession(ctx, cfg, withOrg)
		if err != nil {
			return err
		}
		return f(ctx, c)
	})
}

// needOrg fails unless --org was given, for commands about one org.
func (a *app) needOrg() error {
	if a.org == "" {
		return errors.E(cliOp, errors.Invalid, "this command acts on an org; pass -o ORG or set HUB_ORG")
	}
	return nil
}

// unreachablePrefix starts the message for a hubd that cannot be reached.
const unreachablePrefix = "cannot reach hubd at "

// message is the text Run prints for err: the server's message, or for a
// server that cannot be reached, where hub looked for it and how to fix it.
func (a *app) message(err error) string {
	msg := errors.Message(err)
	if msg == "" {
		msg = errors.KindOf(err).String()
	}
	// gRPC itself reports a failure to connect or to resolve the address
	// in these words ("connection error: …", "last connection error: …",
	// "name resolver error: …"); a server's own Unavailable does not. A
	// command that already explained it (logout) is left as it is.
	if errors.Is(errors.Unavailable, err) && !strings.Contains(msg, unreachablePrefix) &&
		(strings.Contains(msg, "connection error") || strings.Contains(msg, "resolver error")) {
		addr := a.api
		if cfg, _, cerr := a.loadConfig(); cerr == nil {
			addr = a.addr(cfg)
		}
		return fmt.Sprintf(unreachablePrefix+"%s (%s); check that it is running there, or point --api or HUB_API at it", addr, msg)
	}
	return msg
}

// optionalArg returns args[i], or "" when the optional argument at i was
// not given.
func optionalArg(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}
